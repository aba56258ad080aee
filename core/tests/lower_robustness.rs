//! Lowering never panics, whatever tree the parser hands it, and every diagnostic it
//! reports points inside the text.

mod lower_support;

use boomerang_core::lang::compile::lower::{
    LowerCx, Stage, lower_bindings, lower_conditions, lower_mapping, lower_pipeline,
    lower_sql_mapping, lower_sql_params,
};
use boomerang_core::lang::{Block, Span, parse_text};
use lower_support::{dict, names};
use proptest::prelude::*;

/// Words, symbols and fragments of the language, combined at random.
const VOCABULARY: &[&str] = &[
    "accept",
    "reject",
    "ignore",
    "if",
    "all",
    "any",
    "none",
    "then",
    "else",
    "with",
    "do",
    "map",
    "=>",
    "first",
    "each",
    "while",
    "try",
    "catch",
    "reply",
    "stop",
    "error",
    "reason",
    "modify",
    "set",
    "append",
    "backend",
    "invoke",
    "debug",
    "log",
    "json",
    "format",
    "message",
    "pap",
    "http-basic-auth",
    "reject_errors",
    "on",
    "name",
    "query",
    "request",
    "timeout",
    "challenge",
    "eap",
    "{",
    "}",
    ";",
    "[",
    "]",
    "(",
    ")",
    "|",
    ",",
    "==",
    "!=",
    "=",
    "?=",
    "+=",
    ":=",
    "starts",
    "!contains",
    ">",
    "\"x\"",
    "\"%{vars.x}\"",
    "\"%{connection.id | hex}\"",
    "\"REVERSE_DYNAUTH\"",
    "\"DISCONNECT_USER\"",
    "\"LOG_IT\"",
    "vars.x",
    "id",
    "env.HOME",
    "radius.request.attr.User-Name",
    "radius.request.attr.User-Name[0]",
    "radius.reply.attrs",
    "radius.request.code",
    "radius.DISCONNECT_REQUEST",
    "radius.dict.Acct-Status-Type.Alive",
    "connection.peer_ip",
    "connection.cert.subject_alt.email[1]",
    "radius.connection.id",
    "errors.NO_REVERSE_CONNECTIONS",
    "errors.NOPE",
    "aaa.caught_error.code",
    "http.query.u",
    "user.group",
    "Tunnel-Type:1",
    "cache.x[aaa.identity]",
    "lowercase",
    "substring",
    "remove",
    "Proxy-State",
    "jsonpath",
    "\"$.a\"",
    "/a+/i",
    "/(/",
    "10.0.0.0/8",
    "10.9.0.1",
    "5s",
    "42",
    "-1",
    "1.5",
    "0xaa00",
    "true",
    "none",
    "x",
    "util.rand",
];

fn term() -> impl Strategy<Value = &'static str> {
    prop::sample::select(VOCABULARY).prop_filter("a term", |w| {
        !matches!(*w, "{" | "}" | ";" | "[" | "]" | "(" | ")" | "|" | ",")
    })
}

/// Well-bracketed items: `terms ;` or `terms { items } [clause { items }]`.
fn items() -> impl Strategy<Value = String> {
    let leaf = prop::collection::vec(term(), 1..4).prop_map(|t| format!("{};", t.join(" ")));
    leaf.prop_recursive(4, 48, 6, |inner| {
        (
            prop::collection::vec(term(), 1..3),
            prop::collection::vec(inner.clone(), 0..4),
            prop::option::of((
                prop::sample::select(&["then", "else", "do", "catch", "else if any"][..]),
                prop::collection::vec(inner, 0..3),
            )),
        )
            .prop_map(|(head, body, clause)| {
                let mut out = format!("{} {{ {} }}", head.join(" "), body.join(" "));
                if let Some((kw, b)) = clause {
                    out.push_str(&format!(" {kw} {{ {} }}", b.join(" ")));
                }
                out
            })
    })
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(prop::sample::select(VOCABULARY), 0..60).prop_map(|w| w.join(" ")),
        prop::collection::vec(items(), 0..6).prop_map(|i| i.join("\n")),
    ]
}

fn lower_everything(text: &str) {
    let (sources, parsed) = parse_text("r.conf", text);
    let len = u32::try_from(sources.text(boomerang_core::lang::FileId(0)).len()).unwrap();
    let names = names();
    let mut diagnostics = Vec::new();
    let mut cx = LowerCx {
        dictionary: dict(),
        names: &names,
        diagnostics: &mut diagnostics,
    };
    let block = Block {
        items: parsed.file.items.clone(),
        span: Span::DUMMY,
    };
    for stage in [
        Stage::Execute,
        Stage::FinalExecute,
        Stage::Select,
        Stage::Named,
    ] {
        lower_pipeline(&mut cx, stage, &block);
    }
    for item in &parsed.file.items {
        lower_conditions(&mut cx, item);
        if let Some(b) = item.block() {
            lower_pipeline(&mut cx, Stage::Select, b);
            lower_bindings(&mut cx, b);
            lower_mapping(&mut cx, b);
            lower_sql_params(&mut cx, b);
            lower_sql_mapping(&mut cx, b);
        }
    }
    lower_bindings(&mut cx, &block);
    lower_mapping(&mut cx, &block);
    lower_sql_params(&mut cx, &block);
    lower_sql_mapping(&mut cx, &block);
    for d in &diagnostics {
        let span = d.span.expect("lowering diagnostics have a location");
        assert!(
            span.start <= span.end && span.end <= len,
            "{d:?} outside {len}"
        );
    }
}

proptest! {
    #[test]
    fn lowering_random_item_soup_never_panics(t in text()) {
        lower_everything(&t);
    }
}

#[test]
fn real_configuration_files_never_panic() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/lang");
    for sub in ["radconf", "seeds"] {
        for entry in std::fs::read_dir(format!("{dir}/{sub}")).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            lower_everything(&text);
        }
    }
}
