//! Building blocks of the interpreter's IR written by hand (expressions, places,
//! assignments, the seeds' `@select` and proxy query), shared by the interpreter's
//! and the engine's test helpers (`eval_support`, `engine_support`).
#![allow(dead_code)]

use std::sync::Arc;

use boomerang_core::eval::ir::{
    Action, AssignOp, Assignment, Condition, ConnField, Expr, PacketRef, Pipeline, Place, VarRef,
    radius_code_constant,
};
use boomerang_core::eval::query::{Bindings, Mapping, RadiusQuery};
use boomerang_core::radius::id::AttrId;

/// An attribute given by its standard type number or as an [`AttrId`].
pub trait IntoAttrId {
    fn attr_id(self) -> AttrId;
}

impl IntoAttrId for u8 {
    fn attr_id(self) -> AttrId {
        AttrId::Standard(self)
    }
}

impl IntoAttrId for AttrId {
    fn attr_id(self) -> AttrId {
        self
    }
}

pub fn attr(t: u8) -> AttrId {
    AttrId::Standard(t)
}

/// `radius.<NAME>`: a packet code constant.
pub fn code(name: &str) -> Expr {
    Expr::Literal(radius_code_constant(name).unwrap())
}

pub fn var(v: VarRef) -> Expr {
    Expr::Var(v)
}

/// `connection.<field>`
pub fn cf(f: ConnField) -> Expr {
    Expr::Var(VarRef::Connection(f))
}

/// `radius.request.attr.<a>`
pub fn req_attr_var(a: impl IntoAttrId) -> Expr {
    var(VarRef::request_attr(a.attr_id()))
}

/// `place = value;`
pub fn assign(place: Place, value: Expr) -> Assignment {
    Assignment {
        place,
        op: AssignOp::Set,
        value,
    }
}

/// `radius.request.code` as a place.
pub fn req_code() -> Place {
    Place::RadiusCode(PacketRef::Request)
}

/// `radius.request.attr.<a>` as a place.
pub fn req_attr(a: impl IntoAttrId) -> Place {
    Place::RadiusAttr {
        packet: PacketRef::Request,
        attr: a.attr_id(),
    }
}

/// `radius.reply.attr.<a>` as a place.
pub fn reply_attr(a: impl IntoAttrId) -> Place {
    Place::RadiusAttr {
        packet: PacketRef::Reply,
        attr: a.attr_id(),
    }
}

/// `if all { conds } then { accept; } else { reject; }`
pub fn accept_if(cond: Condition) -> Arc<Pipeline> {
    Pipeline::new(vec![Action::if_then(
        cond,
        vec![Action::accept()],
        Some(vec![Action::reject()]),
    )])
}

/// `query "PROXY_QUERY" { bindings { radius.request.code = radius.request.code;
///   radius.request.attrs = radius.request.attrs; } mappings { radius.reply.code =
///   radius.reply.code; radius.reply.attrs = radius.reply.attrs; } }`: code and
/// attributes copied out, and the reply back.
pub fn proxy_query() -> RadiusQuery {
    RadiusQuery {
        name: "PROXY_QUERY".into(),
        bindings: Bindings {
            assignments: vec![
                assign(req_code(), var(VarRef::RadiusCode(PacketRef::Request))),
                assign(
                    Place::RadiusAttrs(PacketRef::Request),
                    var(VarRef::RadiusAttrs(PacketRef::Request)),
                ),
            ],
        },
        mapping: Mapping {
            assignments: vec![
                assign(
                    Place::RadiusCode(PacketRef::Reply),
                    var(VarRef::RadiusCode(PacketRef::Reply)),
                ),
                assign(
                    Place::RadiusAttrs(PacketRef::Reply),
                    var(VarRef::RadiusAttrs(PacketRef::Reply)),
                ),
            ],
        },
    }
}
