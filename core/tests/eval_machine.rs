//! The pipeline machine: directives, try/catch, reply, stop, invoke, reasons,
//! reject_errors, modify rules, policy choice, reply codes, HTTP answers, queries,
//! deep nesting, and determinism.

mod eval_support;

use std::collections::BTreeMap;
use std::sync::Arc;

use boomerang_core::contract::SqlRows;
use boomerang_core::eval::context::{Context, HttpExchange, Protocol};
use boomerang_core::eval::error::{ErrorCode, ErrorValue};
use boomerang_core::eval::ir::{
    AaaField, AaaPlace, Action, ActionResult, AssignOp, Assignment, Cond, Condition, DebugTarget,
    Directive, Expr, HttpField, HttpPlace, Index, Library, MapPattern, NamedPipeline, PacketRef,
    Pipeline, PipelineId, Place, Template, VarRef,
};
use boomerang_core::eval::machine::{
    Effect, EffectResult, LogLevel, MAX_FRAMES, Machine, MachineError, Outcome, Step,
};
use boomerang_core::eval::policy::{
    Handler, HandlerChoice, Policy, choose_handler, http_answer, radius_reply, radius_reply_code,
};
use boomerang_core::eval::query::{
    Bindings, Mapping, OutgoingRequest, ReplyView, SqlAssign, apply_mapping, apply_sql_mapping,
    eval_bindings,
};
use boomerang_core::eval::value::Value;
use eval_support::*;
use proptest::prelude::*;

use ActionResult::{Accept as A, Ignore as I, Reject as R};

fn set_var(name: &str, v: Expr) -> Action {
    Action::set(Place::Vars(name.to_owned()), v)
}

fn vars(name: &str) -> Expr {
    Expr::Var(VarRef::Vars(name.to_owned()))
}

fn result(r: ActionResult) -> Action {
    Action::Result {
        result: r,
        message: None,
    }
}

/// Run with no effects expected.
fn run(p: Arc<Pipeline>, ctx: &mut Context) -> Outcome {
    run_lib(p, Arc::new(Library::default()), ctx)
}

fn run_lib(p: Arc<Pipeline>, lib: Arc<Library>, ctx: &mut Context) -> Outcome {
    let mut m = Machine::new(p, lib);
    match m.start(ctx) {
        Step::Done(o) => o,
        Step::Effect(e) => panic!("unexpected effect {e:?}"),
    }
}

fn ctx() -> Context {
    radius_ctx(1, &[(USER_NAME, "mikem")])
}

/// Every row of language.md §3.2, exercised with result sequences. Before each result
/// action a transparent `modify vars.ranN = 1` records that it was reached, so the stop rule
/// is checked as well as the result. `expected_ran` counts result actions executed.
#[test]
fn directive_table() {
    let rows: &[(Directive, &[ActionResult], Outcome, usize)] = &[
        // while: stops at the first reject; otherwise the last result (§3.1). The
        // §3.2 table's "otherwise accept" differs only for a trailing ignore, where
        // we keep ignore (see docs/evaluation.md).
        (Directive::While, &[A, I, R], Outcome::Reject, 3),
        (Directive::While, &[R, A], Outcome::Reject, 1),
        (Directive::While, &[A, A], Outcome::Accept, 2),
        (Directive::While, &[I, A], Outcome::Accept, 2),
        (Directive::While, &[I, I], Outcome::Ignore, 2),
        (Directive::While, &[], Outcome::Ignore, 0),
        // first: stops at the first accept or reject; that result.
        (Directive::First, &[I, A, R], Outcome::Accept, 2),
        (Directive::First, &[I, R, A], Outcome::Reject, 2),
        (Directive::First, &[R, A], Outcome::Reject, 1),
        (Directive::First, &[I, I], Outcome::Ignore, 2),
        // any: stops at the first accept (accept); otherwise reject.
        (Directive::Any, &[I, R, A], Outcome::Accept, 3),
        (Directive::Any, &[A, R], Outcome::Accept, 1),
        (Directive::Any, &[R, I], Outcome::Reject, 2),
        (Directive::Any, &[I, I], Outcome::Reject, 2),
        // all: stops at the first ignore or reject (reject); otherwise accept.
        (Directive::All, &[A, A], Outcome::Accept, 2),
        (Directive::All, &[A, I, A], Outcome::Reject, 2),
        (Directive::All, &[R, A], Outcome::Reject, 1),
        // none: stops at the first accept (reject); otherwise accept.
        (Directive::None, &[R, I], Outcome::Accept, 2),
        (Directive::None, &[R, A, R], Outcome::Reject, 2),
        (Directive::None, &[I, I], Outcome::Accept, 2),
        // each: never stops; the last result.
        (Directive::Each, &[A, R, I], Outcome::Ignore, 3),
        (Directive::Each, &[R, A], Outcome::Accept, 2),
        (Directive::Each, &[I, R], Outcome::Reject, 2),
        (Directive::Each, &[R, R, A, I, A], Outcome::Accept, 5),
    ];
    for (dir, seq, expected, expected_ran) in rows {
        let mut actions = Vec::new();
        for (i, r) in seq.iter().enumerate() {
            actions.push(set_var(&format!("ran{i}"), Expr::int(1)));
            actions.push(result(*r));
        }
        // As a whole pipeline …
        let mut c = ctx();
        let got = run(Pipeline::with_directive(*dir, actions.clone()), &mut c);
        assert_eq!(&got, expected, "{dir:?} {seq:?}");
        let ran = (0..seq.len())
            .filter(|i| c.vars.contains_key(&format!("ran{i}")))
            .count();
        assert_eq!(ran, *expected_ran, "{dir:?} {seq:?}: actions run");
        // … and as a sub-block of an `each` pipeline, whose result is the block's.
        let mut c = ctx();
        let nested = Pipeline::with_directive(
            Directive::Each,
            vec![
                Action::Block(Pipeline::with_directive(*dir, actions)),
                set_var("after", Expr::int(1)),
            ],
        );
        let got = run(nested, &mut c);
        assert_eq!(&got, expected, "nested {dir:?} {seq:?}");
        assert!(
            c.vars.contains_key("after"),
            "the enclosing block carries on"
        );
    }
}

#[test]
fn transparent_actions_do_not_count_as_results() {
    // `all { modify; accept; }` accepts; `first { modify; debug; accept }` accepts.
    let mut c = ctx();
    let p = Pipeline::with_directive(
        Directive::All,
        vec![set_var("x", Expr::int(1)), Action::accept()],
    );
    assert_eq!(run(p, &mut c), Outcome::Accept);
    let p = Pipeline::with_directive(
        Directive::First,
        vec![
            set_var("x", Expr::int(1)),
            Action::Debug(DebugTarget::Template(Template::text("hi"))),
            Action::accept(),
        ],
    );
    assert_eq!(run(p, &mut c), Outcome::Accept);
    // An `if` whose branch did not run is transparent: the reject before it stands
    // under `each`.
    let p = Pipeline::with_directive(
        Directive::Each,
        vec![
            Action::reject(),
            Action::if_then(
                Condition::all(vec![Cond::eq(vars("nope"), Expr::int(1))]),
                vec![Action::accept()],
                None,
            ),
        ],
    );
    assert_eq!(run(p, &mut c), Outcome::Reject);
}

#[test]
fn if_else_if_chains_and_condition_modes() {
    let branch = |n: i128| Pipeline::new(vec![set_var("branch", Expr::int(n)), Action::accept()]);
    let is = |name: &str, v: i128| Cond::eq(vars(name), Expr::int(v));
    let p = Pipeline::new(vec![Action::If {
        branches: vec![
            (Condition::all(vec![is("a", 1), is("b", 1)]), branch(1)),
            (Condition::any(vec![is("a", 9), is("b", 2)]), branch(2)),
            (Condition::none(vec![is("a", 1)]), branch(3)),
        ],
        otherwise: Some(branch(4)),
    }]);
    for (a, b, expected) in [(1, 1, 1), (1, 2, 2), (2, 1, 3), (1, 3, 4)] {
        let mut c = ctx();
        c.vars.insert("a".into(), Value::Integer(a));
        c.vars.insert("b".into(), Value::Integer(b));
        assert_eq!(run(p.clone(), &mut c), Outcome::Accept);
        assert_eq!(c.vars["branch"], Value::Integer(expected), "a={a} b={b}");
    }
    // Empty groups: all/none hold, any does not.
    for (cond, expected) in [
        (Condition::all(vec![]), true),
        (Condition::none(vec![]), true),
        (Condition::any(vec![]), false),
    ] {
        let mut c = ctx();
        let p = Pipeline::new(vec![Action::if_then(
            cond,
            vec![Action::accept()],
            Some(vec![Action::reject()]),
        )]);
        assert_eq!(run(p, &mut c) == Outcome::Accept, expected);
    }
}

#[test]
fn errors_inside_conditions_compare_false() {
    let mut c = Context::http(
        schema(),
        t0(),
        HttpExchange {
            method: "POST".into(),
            body: "not json".into(),
            ..Default::default()
        },
    );
    let json = Expr::Var(VarRef::Http(HttpField::Json));
    let p = Pipeline::new(vec![Action::if_then(
        Condition::any(vec![
            Cond::eq(json.clone(), Expr::Literal(Value::None)),
            Cond::ne(json, Expr::Literal(Value::None)),
        ]),
        vec![Action::accept()],
        Some(vec![Action::reject()]),
    )]);
    assert_eq!(
        run(p, &mut c),
        Outcome::Reject,
        "both == and != are false on an error value"
    );
    assert!(c.aaa.errors.is_empty(), "a condition never raises");
}

#[test]
fn with_do_else_and_map() {
    let with = |test: Vec<Action>| {
        Pipeline::new(vec![Action::With {
            test: Pipeline::with_directive(Directive::First, test),
            then: Some(Pipeline::new(vec![
                set_var("w", Expr::str("do")),
                Action::accept(),
            ])),
            otherwise: Some(Pipeline::new(vec![
                set_var("w", Expr::str("else")),
                Action::reject(),
            ])),
        }])
    };
    let mut c = ctx();
    assert_eq!(
        run(with(vec![Action::ignore(), Action::accept()]), &mut c),
        Outcome::Accept
    );
    assert_eq!(c.vars["w"], Value::String("do".into()));
    assert_eq!(run(with(vec![Action::ignore()]), &mut c), Outcome::Reject);
    assert_eq!(c.vars["w"], Value::String("else".into()));
    assert_eq!(
        run(with(vec![]), &mut c),
        Outcome::Reject,
        "no result takes else"
    );

    let map = Pipeline::new(vec![Action::Map {
        subject: Expr::Var(VarRef::request_attr(USER_NAME)),
        arms: vec![
            (
                MapPattern::Value(Value::String("alice".into())),
                Pipeline::new(vec![set_var("arm", Expr::int(1))]),
            ),
            (
                MapPattern::Value(Value::List(vec![
                    Value::String("bob".into()),
                    Value::String("mikem".into()),
                ])),
                Pipeline::new(vec![set_var("arm", Expr::int(2)), Action::accept()]),
            ),
            (
                MapPattern::Any,
                Pipeline::new(vec![set_var("arm", Expr::int(3)), Action::reject()]),
            ),
        ],
    }]);
    let mut c = ctx();
    assert_eq!(run(map.clone(), &mut c), Outcome::Accept);
    assert_eq!(c.vars["arm"], Value::Integer(2));
    let mut c = radius_ctx(1, &[(USER_NAME, "zed")]);
    assert_eq!(run(map, &mut c), Outcome::Reject);
    assert_eq!(c.vars["arm"], Value::Integer(3));
}

fn err(msg: &str) -> Action {
    Action::Error(Template::text(msg))
}

#[test]
fn try_short_form_turns_errors_into_ignore() {
    let mut c = ctx();
    let p = Pipeline::with_directive(
        Directive::First,
        vec![
            Action::try_short(err("A down")),
            Action::try_short(err("B down")),
            Action::accept(),
        ],
    );
    assert_eq!(run(p, &mut c), Outcome::Accept);
    assert_eq!(c.aaa.caught_error, Value::String("B down".into()));
    assert_eq!(c.aaa.caught_error_code, Value::String("ERROR".into()));
    assert_eq!(c.aaa.caught_errors.len(), 2);
    // `first { try A; try B; error "all failed"; }` fails when both fail.
    let p = Pipeline::with_directive(
        Directive::First,
        vec![
            Action::try_short(err("A")),
            Action::try_short(err("B")),
            err("all failed"),
        ],
    );
    assert_eq!(
        run(p, &mut ctx()),
        Outcome::Error(ErrorValue::new(ErrorCode::Error, "all failed"))
    );
}

#[test]
fn try_long_form_skips_rest_and_runs_catch() {
    let mut c = ctx();
    let p = Pipeline::new(vec![Action::Try {
        body: Pipeline::new(vec![
            Action::accept(),
            err("boom"),
            set_var("skipped", Expr::int(1)),
        ]),
        catch: Some(Pipeline::new(vec![
            set_var(
                "in_catch",
                Expr::Var(VarRef::Aaa(AaaField::CaughtErrorCode)),
            ),
            Action::reject_with(Template {
                parts: vec![
                    text("caught "),
                    part(Expr::Var(VarRef::Aaa(AaaField::CaughtError))),
                ],
            }),
        ])),
    }]);
    assert_eq!(run(p, &mut c), Outcome::Reject);
    assert!(!c.vars.contains_key("skipped"));
    assert_eq!(c.vars["in_catch"], Value::String("ERROR".into()));
    assert_eq!(c.aaa.reason, Value::String("caught boom".into()));

    // accept/reject/ignore never trigger catch; the try's result is the body's.
    for r in [A, R, I] {
        let mut c = ctx();
        let p = Pipeline::new(vec![Action::Try {
            body: Pipeline::new(vec![result(r)]),
            catch: Some(Pipeline::new(vec![
                set_var("caught", Expr::int(1)),
                Action::accept(),
            ])),
        }]);
        let expected = match r {
            A => Outcome::Accept,
            R => Outcome::Reject,
            I => Outcome::Ignore,
        };
        assert_eq!(run(p, &mut c), expected);
        assert!(!c.vars.contains_key("caught"));
    }

    // A catch with no result gives ignore; a try without catch gives ignore.
    let p = Pipeline::new(vec![Action::Try {
        body: Pipeline::new(vec![err("x")]),
        catch: Some(Pipeline::new(vec![])),
    }]);
    assert_eq!(run(p, &mut ctx()), Outcome::Ignore);
    let p = Pipeline::new(vec![
        Action::accept(),
        Action::Try {
            body: Pipeline::new(vec![err("x")]),
            catch: None,
        },
    ]);
    assert_eq!(run(p, &mut ctx()), Outcome::Ignore);

    // The directive of the try body governs non-error results.
    let p = Pipeline::new(vec![Action::Try {
        body: Pipeline::with_directive(
            Directive::First,
            vec![Action::ignore(), Action::accept(), err("never")],
        ),
        catch: Some(Pipeline::new(vec![Action::reject()])),
    }]);
    assert_eq!(run(p, &mut ctx()), Outcome::Accept);
}

#[test]
fn nested_try_and_errors_in_catch() {
    // The inner try catches; the outer never sees the error.
    let inner = Action::Try {
        body: Pipeline::new(vec![err("inner")]),
        catch: Some(Pipeline::new(vec![Action::accept()])),
    };
    let p = Pipeline::new(vec![Action::Try {
        body: Pipeline::new(vec![inner, set_var("after_inner", Expr::int(1))]),
        catch: Some(Pipeline::new(vec![set_var("outer_caught", Expr::int(1))])),
    }]);
    let mut c = ctx();
    assert_eq!(run(p, &mut c), Outcome::Accept);
    assert!(c.vars.contains_key("after_inner"));
    assert!(!c.vars.contains_key("outer_caught"));

    // An error raised inside the inner catch goes to the outer catch.
    let inner = Action::Try {
        body: Pipeline::new(vec![err("first")]),
        catch: Some(Pipeline::new(vec![err("second")])),
    };
    let p = Pipeline::new(vec![Action::Try {
        body: Pipeline::new(vec![inner, set_var("not_reached", Expr::int(1))]),
        catch: Some(Pipeline::new(vec![Action::reject()])),
    }]);
    let mut c = ctx();
    assert_eq!(run(p, &mut c), Outcome::Reject);
    assert!(!c.vars.contains_key("not_reached"));
    assert_eq!(c.aaa.caught_error, Value::String("second".into()));
    let caught: Vec<_> = c
        .aaa
        .caught_errors
        .iter()
        .map(|e| e.message.as_str())
        .collect();
    assert_eq!(caught, ["first", "second"]);

    // With no outer try, an error in catch ends the run with that error.
    let p = Pipeline::new(vec![
        Action::Try {
            body: Pipeline::new(vec![err("first")]),
            catch: Some(Pipeline::new(vec![err("second")])),
        },
        Action::accept(),
    ]);
    let mut c = ctx();
    assert_eq!(
        run(p, &mut c),
        Outcome::Error(ErrorValue::new(ErrorCode::Error, "second"))
    );
    assert_eq!(
        c.aaa.errors.len(),
        2,
        "aaa.errors records every raised error"
    );
}

#[test]
fn errors_propagate_through_every_directive() {
    for dir in [
        Directive::While,
        Directive::First,
        Directive::Any,
        Directive::All,
        Directive::None,
        Directive::Each,
    ] {
        let p = Pipeline::new(vec![
            Action::Block(Pipeline::with_directive(
                dir,
                vec![
                    Action::Block(Pipeline::with_directive(Directive::Each, vec![err("deep")])),
                    Action::accept(),
                ],
            )),
            set_var("after", Expr::int(1)),
        ]);
        let mut c = ctx();
        assert_eq!(
            run(p, &mut c),
            Outcome::Error(ErrorValue::new(ErrorCode::Error, "deep")),
            "{dir:?}"
        );
        assert!(!c.vars.contains_key("after"));
    }
}

#[test]
fn caught_error_lifetime() {
    let p = Pipeline::new(vec![
        Action::try_short(err("a")),
        set_var("first", Expr::Var(VarRef::Aaa(AaaField::CaughtError))),
        Action::accept(),
        set_var("still", Expr::Var(VarRef::Aaa(AaaField::CaughtError))),
        Action::try_short(Action::accept()),
        set_var("second", Expr::Var(VarRef::Aaa(AaaField::CaughtError))),
    ]);
    let mut c = ctx();
    assert_eq!(run(p, &mut c), Outcome::Accept);
    assert_eq!(c.vars["first"], Value::String("a".into()));
    assert_eq!(
        c.vars["still"],
        Value::String("a".into()),
        "readable after the try"
    );
    assert!(
        !c.vars.contains_key("second"),
        "cleared when the next try runs"
    );
    assert_eq!(c.aaa.caught_errors.len(), 1);
}

#[test]
fn reply_yields_send_reply_then_continues() {
    let p = Pipeline::new(vec![
        Action::accept(),
        Action::Reply,
        set_var("after", Expr::int(1)),
        Action::reject(),
        set_var("never", Expr::int(1)),
    ]);
    let mut c = radius_ctx(4, &[]);
    let mut m = Machine::new(p, Arc::new(Library::default()));
    let step = m.start(&mut c);
    assert_eq!(step, Step::Effect(Effect::SendReply { result: Some(A) }));
    assert_eq!(
        m.start(&mut c),
        step,
        "start while parked repeats the effect"
    );
    assert!(!c.vars.contains_key("after"), "nothing runs while parked");
    assert_eq!(
        m.resume(&mut c, EffectResult::Backend(Ok(A))),
        Err(MachineError::WrongAnswer {
            expected: "ReplySent",
            got: "a backend result"
        })
    );
    assert_eq!(
        m.resume(&mut c, EffectResult::ReplySent),
        Ok(Step::Done(Outcome::Reject))
    );
    assert!(c.vars.contains_key("after"));
    assert!(!c.vars.contains_key("never"));
    assert_eq!(
        m.resume(&mut c, EffectResult::ReplySent),
        Err(MachineError::NotWaiting)
    );
    assert_eq!(radius_reply_code(4, &Outcome::Accept, None, false), Some(5));
}

#[test]
fn backend_effects_resume_with_result_or_error() {
    let p = Pipeline::new(vec![
        Action::Try {
            body: Pipeline::new(vec![Action::Backend(call(0, None, "B"))]),
            catch: Some(Pipeline::new(vec![set_var(
                "caught",
                Expr::Var(VarRef::Aaa(AaaField::CaughtErrorCode)),
            )])),
        },
        Action::Backend(call(1, None, "C")),
    ]);
    let mut c = ctx();
    let mut m = Machine::new(p, Arc::new(Library::default()));
    assert_eq!(
        m.start(&mut c),
        Step::Effect(Effect::Backend(call(0, None, "B")))
    );
    let timeout = ErrorValue::new(ErrorCode::ReverseTimeout, "NAS did not answer");
    let step = m
        .resume(&mut c, EffectResult::Backend(Err(timeout)))
        .unwrap();
    assert_eq!(step, Step::Effect(Effect::Backend(call(1, None, "C"))));
    assert_eq!(c.vars["caught"], Value::String("REVERSE_TIMEOUT".into()));
    assert_eq!(
        m.resume(&mut c, EffectResult::Backend(Ok(R))).unwrap(),
        Step::Done(Outcome::Reject)
    );
}

#[test]
fn stop_ends_the_whole_run_with_the_current_result() {
    let mut c = ctx();
    let p = Pipeline::new(vec![Action::accept(), Action::Stop, Action::reject()]);
    assert_eq!(run(p, &mut c), Outcome::Accept);
    let p = Pipeline::new(vec![Action::Stop, Action::accept()]);
    assert_eq!(run(p, &mut c), Outcome::Ignore);
    // Open blocks end as if they reached their end: `none { reject; stop; accept }`
    // gives accept, and the enclosing while takes it.
    let p = Pipeline::new(vec![
        Action::Block(Pipeline::with_directive(
            Directive::None,
            vec![Action::reject(), Action::Stop, Action::accept()],
        )),
        Action::reject(),
    ]);
    assert_eq!(run(p, &mut c), Outcome::Accept);
    // `stop` inside an invoked pipeline stops the caller too, and stop inside a try
    // body does not run catch.
    let lib = Arc::new(Library {
        pipelines: vec![NamedPipeline {
            name: "P".into(),
            pipeline: Pipeline::new(vec![Action::accept(), Action::Stop]),
        }],
    });
    let p = Pipeline::new(vec![
        Action::Try {
            body: Pipeline::new(vec![Action::Invoke(PipelineId(0)), err("unreached")]),
            catch: Some(Pipeline::new(vec![set_var("caught", Expr::int(1))])),
        },
        Action::reject(),
    ]);
    let mut c = ctx();
    assert_eq!(run_lib(p, lib, &mut c), Outcome::Accept);
    assert!(!c.vars.contains_key("caught"));
}

#[test]
fn invoke_runs_named_pipelines_inline() {
    let lib = Arc::new(Library {
        pipelines: vec![
            NamedPipeline {
                name: "LOG_IT".into(),
                pipeline: Pipeline::new(vec![set_var("logged", Expr::int(1))]),
            },
            NamedPipeline {
                name: "DENY".into(),
                pipeline: Pipeline::new(vec![Action::reject()]),
            },
            NamedPipeline {
                name: "LOOP".into(),
                pipeline: Pipeline::new(vec![Action::Invoke(PipelineId(2))]),
            },
        ],
    });
    let mut c = ctx();
    let p = Pipeline::new(vec![Action::accept(), Action::Invoke(PipelineId(0))]);
    assert_eq!(
        run_lib(p, lib.clone(), &mut c),
        Outcome::Accept,
        "a transparent pipeline keeps the result"
    );
    assert_eq!(c.vars["logged"], Value::Integer(1));
    let p = Pipeline::new(vec![Action::Invoke(PipelineId(1)), Action::accept()]);
    assert_eq!(
        run_lib(p, lib.clone(), &mut c),
        Outcome::Reject,
        "its reject stops the caller's while"
    );
    // A cycle ends in an error, not a hang or a stack overflow.
    let p = Pipeline::new(vec![Action::Invoke(PipelineId(2))]);
    match run_lib(p, lib.clone(), &mut c) {
        Outcome::Error(e) => assert_eq!(e.code, ErrorCode::Error),
        other => panic!("{other:?}"),
    }
    let p = Pipeline::new(vec![Action::Invoke(PipelineId(99))]);
    assert!(
        matches!(run_lib(p, lib, &mut c), Outcome::Error(e) if e.code == ErrorCode::InvalidValue)
    );
}

#[test]
fn deep_nesting_uses_the_frame_stack() {
    fn nested(depth: usize) -> Arc<Pipeline> {
        let mut p = Pipeline::new(vec![Action::accept()]);
        for _ in 0..depth {
            p = Pipeline::new(vec![Action::Block(p)]);
        }
        p
    }
    // Dropping a very deep tree recurses in Drop, which is not what is tested here.
    let ok = nested(MAX_FRAMES - 2);
    assert_eq!(run(ok.clone(), &mut ctx()), Outcome::Accept);
    std::mem::forget(ok);
    let too_deep = nested(MAX_FRAMES + 10);
    assert!(matches!(
        run(too_deep.clone(), &mut ctx()),
        Outcome::Error(_)
    ));
    std::mem::forget(too_deep);
}

#[test]
fn reject_message_sets_reason_and_reply_message() {
    let p = Pipeline::new(vec![
        Action::set(
            Place::RadiusAttr {
                packet: PacketRef::Reply,
                attr: FILTER_ID,
            },
            Expr::str("guest"),
        ),
        Action::reject_with(Template {
            parts: vec![
                text("no access for "),
                part(Expr::Var(VarRef::request_attr(USER_NAME))),
            ],
        }),
    ]);
    let mut c = ctx();
    let o = run(p, &mut c);
    assert_eq!(o, Outcome::Reject);
    assert_eq!(c.aaa.reason, Value::String("no access for mikem".into()));
    let (code, attrs) = radius_reply(&c, &o).unwrap();
    assert_eq!(code, 3);
    assert_eq!(
        attrs.len(),
        2,
        "reply attributes set before reject are kept"
    );
    assert_eq!(attrs[0].id, FILTER_ID);
    assert_eq!(attrs[1].id, REPLY_MESSAGE);
    assert_eq!(&attrs[1].value[..], b"no access for mikem");
}

#[test]
fn reject_errors_turns_a_final_error_into_reject() {
    let p = Pipeline::new(vec![Action::RejectErrors(true), err("db down")]);
    let mut c = ctx();
    let o = run(p, &mut c);
    assert_eq!(o, Outcome::Reject);
    assert_eq!(radius_reply(&c, &o).map(|r| r.0), Some(3));
    let p = Pipeline::new(vec![err("db down")]);
    let mut c = ctx();
    let o = run(p, &mut c);
    assert!(matches!(o, Outcome::Error(_)));
    assert_eq!(radius_reply(&c, &o), None, "errors are silent by default");
    let p = Pipeline::new(vec![
        Action::RejectErrors(true),
        Action::RejectErrors(false),
        err("x"),
    ]);
    assert!(matches!(run(p, &mut ctx()), Outcome::Error(_)));
}

#[test]
fn reply_code_table() {
    let e = Outcome::Error(ErrorValue::new(ErrorCode::BackendError, "x"));
    // (request code, outcome, explicit reply code, reject_errors, expected reply code)
    type Row = (u8, Outcome, Option<u8>, bool, Option<u8>);
    let rows: &[Row] = &[
        (1, Outcome::Accept, None, false, Some(2)),
        (1, Outcome::Reject, None, false, Some(3)),
        (1, Outcome::Ignore, None, false, None),
        (1, e.clone(), None, false, None),
        (1, e.clone(), None, true, Some(3)),
        (4, Outcome::Accept, None, false, Some(5)),
        (4, Outcome::Reject, None, false, None),
        (4, e.clone(), None, true, None),
        (43, Outcome::Accept, None, false, Some(44)),
        (43, Outcome::Reject, None, false, Some(45)),
        (43, e.clone(), None, true, Some(45)),
        (40, Outcome::Accept, None, false, Some(41)),
        (40, Outcome::Reject, None, false, Some(42)),
        (40, e.clone(), None, false, None),
        (12, Outcome::Accept, None, false, Some(2)),
        // An explicitly set code wins …
        (40, Outcome::Accept, Some(42), false, Some(42)),
        (1, Outcome::Reject, Some(2), false, Some(2)),
        (4, Outcome::Ignore, Some(5), false, Some(5)),
        // … but not over a silent error.
        (40, e.clone(), Some(41), false, None),
        (40, e, Some(41), true, Some(41)),
    ];
    for (req, outcome, explicit, reject_errors, expected) in rows {
        assert_eq!(
            radius_reply_code(*req, outcome, *explicit, *reject_errors),
            *expected,
            "{req} {outcome:?} {explicit:?} {reject_errors}"
        );
    }
}

fn http_ctx(method: &str, path: &str, query: &[(&str, &str)]) -> Context {
    Context::http(
        schema(),
        t0(),
        HttpExchange {
            method: method.into(),
            path: path.into(),
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        },
    )
}

#[test]
fn http_answers() {
    let c = http_ctx("POST", "/disconnect", &[]);
    let a = http_answer(&c, &Outcome::Accept);
    assert_eq!(a.status, 200);
    assert_eq!(http_answer(&c, &Outcome::Reject).status, 403);
    let a = http_answer(
        &c,
        &Outcome::Error(ErrorValue::new(ErrorCode::NoReverseConnections, "none")),
    );
    assert_eq!(a.status, 500);
    let body: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(body["error"], "NO_REVERSE_CONNECTIONS");
    assert!(
        a.headers
            .contains(&("content-type".into(), "application/json".into()))
    );

    // Status and response set by the pipeline win.
    let mut c = http_ctx("POST", "/disconnect", &[]);
    let p = Pipeline::new(vec![
        Action::Modify(vec![
            Assignment {
                place: Place::Http(HttpPlace::Status),
                op: AssignOp::Set,
                value: Expr::int(202),
            },
            Assignment {
                place: Place::Http(HttpPlace::Response),
                op: AssignOp::Set,
                value: Expr::str("queued"),
            },
        ]),
        Action::reject(),
    ]);
    let o = run(p, &mut c);
    let a = http_answer(&c, &o);
    assert_eq!((a.status, a.body.as_slice()), (202, b"queued".as_slice()));
    let mut c = http_ctx("POST", "/x", &[]);
    let p = Pipeline::new(vec![
        Action::set(Place::Http(HttpPlace::Response), Expr::Literal(Value::None)),
        Action::accept(),
    ]);
    let o = run(p, &mut c);
    assert_eq!(http_answer(&c, &o).status, 204);
    // An invalid status is a pipeline error.
    let mut c = http_ctx("POST", "/x", &[]);
    let p = Pipeline::new(vec![Action::set(
        Place::Http(HttpPlace::Status),
        Expr::int(99),
    )]);
    assert!(matches!(run(p, &mut c), Outcome::Error(e) if e.code == ErrorCode::InvalidValue));
}

#[test]
fn modify_assign_ops_and_read_only_rules() {
    let reply_fid = Place::RadiusAttr {
        packet: PacketRef::Reply,
        attr: FILTER_ID,
    };
    let p = Pipeline::new(vec![Action::Modify(vec![
        Assignment {
            place: Place::Vars("a".into()),
            op: AssignOp::Set,
            value: Expr::int(1),
        },
        Assignment {
            place: Place::Vars("a".into()),
            op: AssignOp::SetIfNone,
            value: Expr::int(2),
        },
        Assignment {
            place: Place::Vars("b".into()),
            op: AssignOp::SetIfNone,
            value: Expr::int(3),
        },
        Assignment {
            place: Place::Vars("l".into()),
            op: AssignOp::Append,
            value: Expr::str("x"),
        },
        Assignment {
            place: Place::Vars("l".into()),
            op: AssignOp::Append,
            value: Expr::str("y"),
        },
        Assignment {
            place: reply_fid.clone(),
            op: AssignOp::Set,
            value: Expr::str("one"),
        },
        Assignment {
            place: reply_fid.clone(),
            op: AssignOp::Append,
            value: Expr::str("two"),
        },
        Assignment {
            place: reply_fid.clone(),
            op: AssignOp::SetIfNone,
            value: Expr::str("three"),
        },
        Assignment {
            place: Place::RadiusAttr {
                packet: PacketRef::Reply,
                attr: ERROR_CAUSE,
            },
            op: AssignOp::Set,
            value: Expr::str("Request-Not-Routable"),
        },
        Assignment {
            place: Place::Aaa(AaaPlace::IdentityRealm),
            op: AssignOp::Set,
            value: Expr::str("example.org"),
        },
    ])]);
    let mut c = ctx();
    c.aaa.identity = Some("mikem@example.com".into());
    assert_eq!(run(p, &mut c), Outcome::Ignore);
    assert_eq!(c.vars["a"], Value::Integer(1));
    assert_eq!(c.vars["b"], Value::Integer(3));
    assert_eq!(
        c.vars["l"],
        Value::List(vec![Value::String("x".into()), Value::String("y".into())])
    );
    assert_eq!(
        c.read_var(&VarRef::RadiusAttr {
            packet: PacketRef::Reply,
            attr: FILTER_ID,
            index: Index::All
        }),
        Value::List(vec![
            Value::String("one".into()),
            Value::String("two".into())
        ])
    );
    assert_eq!(
        c.read_var(&VarRef::RadiusAttr {
            packet: PacketRef::Reply,
            attr: FILTER_ID,
            index: Index::Last
        }),
        Value::String("two".into())
    );
    assert_eq!(
        c.read_var(&VarRef::reply_attr(ERROR_CAUSE)),
        Value::Integer(502)
    );
    assert_eq!(c.aaa.identity.as_deref(), Some("mikem@example.org"));
    assert_eq!(
        c.read_var(&VarRef::Aaa(AaaField::IdentityName)),
        Value::String("mikem".into())
    );

    // Read-only places and error values into attributes are pipeline errors.
    let p = Pipeline::new(vec![Action::set(
        Place::RadiusCode(PacketRef::Request),
        Expr::int(4),
    )]);
    assert!(matches!(run(p, &mut ctx()), Outcome::Error(e) if e.code == ErrorCode::InvalidValue));
    let p = Pipeline::new(vec![Action::set(
        reply_fid.clone(),
        Expr::Literal(Value::Error(ErrorValue::new(
            ErrorCode::InvalidValue,
            "bad json",
        ))),
    )]);
    assert!(matches!(run(p, &mut ctx()), Outcome::Error(e) if e.message == "bad json"));
    // none removes.
    let p = Pipeline::new(vec![
        Action::set(reply_fid.clone(), Expr::str("x")),
        Action::set(reply_fid, Expr::Literal(Value::None)),
    ]);
    let mut c = ctx();
    run(p, &mut c);
    assert!(c.reply.attrs.is_empty());
    // Writable rule at compile time.
    assert!(VarRef::Aaa(AaaField::Policy).as_place().is_none());
    assert!(VarRef::Vars("x".into()).as_place().is_some());
}

#[test]
fn debug_and_log_are_collected_in_order() {
    let p = Pipeline::new(vec![
        Action::Debug(DebugTarget::Template(Template {
            parts: vec![
                text("user "),
                part(Expr::Var(VarRef::request_attr(USER_NAME))),
            ],
        })),
        Action::Debug(DebugTarget::Var {
            path: "vars.missing".into(),
            var: VarRef::Vars("missing".into()),
        }),
        Action::Log {
            logger: "AUTH_LOG".into(),
            content: boomerang_core::eval::ir::LogContent::Json(vec![
                ("user".into(), Expr::Var(VarRef::request_attr(USER_NAME))),
                ("n".into(), Expr::int(3)),
            ]),
        },
    ]);
    let mut c = ctx();
    let mut m = Machine::new(p, Arc::new(Library::default()));
    assert_eq!(m.start(&mut c), Step::Done(Outcome::Ignore));
    let logs = m.take_logs();
    assert_eq!(logs.len(), 3);
    assert_eq!(
        (logs[0].level, logs[0].text.as_str()),
        (LogLevel::Debug, "user mikem")
    );
    assert_eq!(logs[1].text, "vars.missing = none");
    assert_eq!(logs[2].logger.as_deref(), Some("AUTH_LOG"));
    assert_eq!(logs[2].text, r#"{"user":"mikem","n":3}"#);
}

#[test]
fn pap_and_http_basic_auth() {
    let pap = Pipeline::new(vec![Action::Pap]);
    let mut c = radius_ctx(1, &[(USER_NAME, "mikem"), (USER_PASSWORD, "fred")]);
    c.user.password = Value::String("fred".into());
    assert_eq!(run(pap.clone(), &mut c), Outcome::Accept);
    c.user.password = Value::String("other".into());
    assert_eq!(run(pap.clone(), &mut c), Outcome::Reject);
    c.user.password = Value::None;
    assert_eq!(run(pap.clone(), &mut c), Outcome::Reject);
    let mut c = radius_ctx(1, &[(USER_NAME, "mikem")]);
    assert_eq!(
        run(pap, &mut c),
        Outcome::Ignore,
        "no User-Password: another method may apply"
    );

    let auth = Pipeline::new(vec![Action::HttpBasicAuth]);
    let mut c = http_ctx("POST", "/disconnect", &[]);
    // "mikem:fred"
    c.http
        .as_mut()
        .unwrap()
        .headers
        .insert("authorization".into(), "Basic bWlrZW06ZnJlZA==".into());
    c.user.password = Value::String("fred".into());
    assert_eq!(run(auth.clone(), &mut c), Outcome::Accept);
    c.user.password = Value::String("nope".into());
    assert_eq!(run(auth.clone(), &mut c), Outcome::Reject);
    let a = http_answer(&c, &Outcome::Reject);
    assert_eq!(a.status, 401);
    assert!(a.headers.iter().any(|(k, _)| k == "www-authenticate"));
}

#[test]
fn policy_and_handler_choice() {
    let server_is = |s: &str| {
        Condition::all(vec![Cond::eq(
            Expr::Var(VarRef::RadiusServer),
            Expr::str(s),
        )])
    };
    let code_is = |n: i128| {
        Condition::all(vec![Cond::eq(
            Expr::Var(VarRef::RadiusCode(PacketRef::Request)),
            Expr::int(n),
        )])
    };
    let handler = |name: &str, conditions| Handler {
        name: name.into(),
        conditions,
        execute: None,
        final_execute: None,
    };
    let policies = vec![
        Policy {
            name: "UDP".into(),
            conditions: Some(server_is("RADIUS_UDP")),
            handlers: vec![handler("PROXY", None)],
        },
        Policy {
            name: "ACCT".into(),
            conditions: Some(code_is(4)),
            handlers: vec![
                handler("AUTH_ONLY", Some(code_is(1))),
                handler("QUOTA", Some(code_is(4))),
                handler("LAST", None),
            ],
        },
        Policy {
            name: "DEFAULT".into(),
            conditions: None,
            handlers: vec![handler("ANY", None)],
        },
    ];
    let with_server = |code: u8, server: &str| {
        let mut c = radius_ctx(code, &[]);
        c.server = Some(boomerang_core::eval::context::ServerInfo {
            name: server.into(),
            tls: false,
        });
        c
    };
    let c = with_server(4, "RADIUS_UDP");
    assert_eq!(
        choose_handler(&policies, None, &c),
        Some(HandlerChoice {
            policy: 0,
            handler: 0
        }),
        "first policy in order"
    );
    let c = with_server(4, "RADSEC");
    assert_eq!(
        choose_handler(&policies, None, &c),
        Some(HandlerChoice {
            policy: 1,
            handler: 1
        }),
        "first matching handler"
    );
    let c = with_server(1, "RADSEC");
    assert_eq!(
        choose_handler(&policies, None, &c),
        Some(HandlerChoice {
            policy: 2,
            handler: 0
        })
    );
    assert_eq!(
        choose_handler(&policies, Some(1), &c),
        Some(HandlerChoice {
            policy: 1,
            handler: 0
        }),
        "pinned"
    );
    assert_eq!(
        choose_handler(&policies[..2], None, &c),
        None,
        "nothing matches"
    );
}

#[test]
fn bindings_and_mapping() {
    let c = radius_ctx(
        40,
        &[
            (USER_NAME, "mikem"),
            (PROXY_STATE, "ps"),
            (ACCT_SESSION_ID, "s1"),
        ],
    );
    let b = Bindings {
        assignments: vec![
            Assignment {
                place: Place::RadiusCode(PacketRef::Request),
                op: AssignOp::Set,
                value: Expr::str("coa-request"),
            },
            Assignment {
                place: Place::RadiusAttrs(PacketRef::Request),
                op: AssignOp::Set,
                value: Expr::Var(VarRef::RadiusAttrs(PacketRef::Request)),
            },
            Assignment {
                place: Place::RadiusAttr {
                    packet: PacketRef::Request,
                    attr: FILTER_ID,
                },
                op: AssignOp::Set,
                value: Expr::Template(Template {
                    parts: vec![text("u="), part(Expr::Var(VarRef::request_attr(USER_NAME)))],
                }),
            },
        ],
    };
    let out = eval_bindings(&b, &c).unwrap();
    assert_eq!(out.code, Some(43));
    let ids: Vec<_> = out.attrs.entries().iter().map(|e| e.id).collect();
    assert_eq!(ids, [USER_NAME, PROXY_STATE, ACCT_SESSION_ID, FILTER_ID]);
    // Bindings may only build the new request.
    let bad = Bindings {
        assignments: vec![Assignment {
            place: Place::Vars("x".into()),
            op: AssignOp::Set,
            value: Expr::int(1),
        }],
    };
    assert!(eval_bindings(&bad, &c).is_err());
    let bad = Bindings {
        assignments: vec![Assignment {
            place: Place::RadiusCode(PacketRef::Request),
            op: AssignOp::Set,
            value: Expr::str("nonsense"),
        }],
    };
    assert!(eval_bindings(&bad, &c).is_err());

    // mapping: reply code/attrs relay, request echo, vars from a reply attr.
    let m = Mapping {
        assignments: vec![
            Assignment {
                place: Place::RadiusCode(PacketRef::Reply),
                op: AssignOp::Set,
                value: Expr::Var(VarRef::RadiusCode(PacketRef::Reply)),
            },
            Assignment {
                place: Place::RadiusAttrs(PacketRef::Reply),
                op: AssignOp::Set,
                value: Expr::Var(VarRef::RadiusAttrs(PacketRef::Reply)),
            },
            Assignment {
                place: Place::Vars("sent".into()),
                op: AssignOp::Set,
                value: Expr::Var(VarRef::RadiusCode(PacketRef::Request)),
            },
            Assignment {
                place: Place::Vars("fid".into()),
                op: AssignOp::Set,
                value: Expr::Template(Template {
                    parts: vec![part(Expr::Var(VarRef::reply_attr(FILTER_ID)))],
                }),
            },
            Assignment {
                place: Place::Vars("user".into()),
                op: AssignOp::Set,
                value: Expr::Var(VarRef::request_attr(USER_NAME)),
            },
        ],
    };
    let mut reply_attrs = boomerang_core::eval::context::AttrBag::new();
    reply_attrs.push(FILTER_ID, b"ok".to_vec());
    let sent = OutgoingRequest {
        code: Some(43),
        attrs: out.attrs.clone(),
    };
    let mut c = c;
    apply_mapping(
        &m,
        &ReplyView {
            sent: &sent,
            code: 44,
            attrs: &reply_attrs,
        },
        &mut c,
    )
    .unwrap();
    assert_eq!(c.reply.code, Some(44));
    assert_eq!(c.reply.attrs, reply_attrs);
    assert_eq!(c.vars["sent"], Value::Integer(43));
    assert_eq!(c.vars["fid"], Value::String("ok".into()));
    assert_eq!(
        c.vars["user"],
        Value::String("mikem".into()),
        "radius.request.* reads what was sent"
    );
}

#[test]
fn sql_mapping_first_row_and_gathering() {
    let rows = SqlRows {
        columns: vec!["username".into(), "grp".into()],
        rows: vec![
            vec![Value::String("mikem".into()), Value::String("staff".into())],
            vec![Value::String("mikem".into()), Value::String("admin".into())],
        ],
    };
    let mapping = vec![
        SqlAssign {
            place: Place::User(boomerang_core::eval::ir::UserField::Username),
            op: AssignOp::Set,
            column: "username".into(),
        },
        SqlAssign {
            place: Place::User(boomerang_core::eval::ir::UserField::Group),
            op: AssignOp::Append,
            column: "GRP".into(),
        },
    ];
    let mut c = ctx();
    apply_sql_mapping(&mapping, &rows, &mut c).unwrap();
    assert_eq!(c.user.username, Value::String("mikem".into()));
    assert_eq!(
        c.user.group,
        Value::List(vec![
            Value::String("staff".into()),
            Value::String("admin".into())
        ])
    );
    let missing = vec![SqlAssign {
        place: Place::Vars("x".into()),
        op: AssignOp::Set,
        column: "nope".into(),
    }];
    assert!(apply_sql_mapping(&missing, &rows, &mut c).is_err());
    apply_sql_mapping(
        &[SqlAssign {
            place: Place::Vars("x".into()),
            op: AssignOp::Set,
            column: "grp".into(),
        }],
        &SqlRows {
            columns: vec!["grp".into()],
            rows: vec![],
        },
        &mut c,
    )
    .unwrap();
    assert!(!c.vars.contains_key("x"), "no rows maps none");
}

#[test]
fn context_reads() {
    let mut c = radius_ctx(
        4,
        &[
            (USER_NAME, "a"),
            (USER_NAME, "b"),
            (ACCT_STATUS_TYPE, "\0\0\0\x03"),
        ],
    );
    c.env = Arc::new(BTreeMap::from([("HOME".to_string(), "/root".to_string())]));
    c.id = 7;
    let attr = |index| VarRef::RadiusAttr {
        packet: PacketRef::Request,
        attr: USER_NAME,
        index,
    };
    assert_eq!(
        c.read_var(&attr(Index::Auto)),
        Value::List(vec![Value::String("a".into()), Value::String("b".into())])
    );
    assert_eq!(c.read_var(&attr(Index::First)), Value::String("a".into()));
    assert_eq!(c.read_var(&attr(Index::Nth(1))), Value::String("b".into()));
    assert_eq!(c.read_var(&attr(Index::Nth(2))), Value::None);
    assert_eq!(
        c.read_var(&VarRef::request_attr(ACCT_STATUS_TYPE)),
        Value::Integer(3)
    );
    assert_eq!(
        c.read_var(&VarRef::Env("HOME".into())),
        Value::String("/root".into())
    );
    assert_eq!(c.read_var(&VarRef::Id), Value::Integer(7));
    assert_eq!(c.read_var(&VarRef::Timestamp), Value::Timestamp(t0()));
    assert_eq!(
        c.read_var(&VarRef::Aaa(AaaField::Protocol)),
        Value::String("radius".into())
    );
    assert_eq!(
        c.read_var(&VarRef::Http(HttpField::Method)),
        Value::None,
        "no http.* on RADIUS"
    );
    let h = http_ctx("POST", "/api/disconnect", &[("nas_identifier", "nas1")]);
    assert_eq!(
        h.read_var(&VarRef::Http(HttpField::PathSegment(1))),
        Value::String("disconnect".into())
    );
    assert_eq!(
        h.read_var(&VarRef::Http(HttpField::Query("nas_identifier".into()))),
        Value::String("nas1".into())
    );
    assert_eq!(
        h.read_var(&VarRef::RadiusServer),
        Value::None,
        "no radius.server on HTTP"
    );
    assert_eq!(h.protocol, Protocol::Http);
}

// ---------------------------------------------------------------------------
// Determinism: same program + context + answers → same outcome, effects, logs.

fn arb_leaf() -> impl Strategy<Value = Action> {
    prop_oneof![
        Just(Action::accept()),
        Just(Action::reject()),
        Just(Action::ignore()),
        Just(Action::Reply),
        Just(Action::Stop),
        (0u32..3).prop_map(|b| Action::Backend(call(b, None, "B"))),
        "[a-c]".prop_map(|m| Action::Error(Template::text(&m))),
        ("[a-c]", 0i128..3).prop_map(|(n, v)| set_var(&n, Expr::int(v))),
        "[a-c]".prop_map(|n| Action::Debug(DebugTarget::Var {
            path: format!("vars.{n}"),
            var: VarRef::Vars(n)
        })),
    ]
}

fn arb_directive() -> impl Strategy<Value = Directive> {
    prop_oneof![
        Just(Directive::While),
        Just(Directive::First),
        Just(Directive::Any),
        Just(Directive::All),
        Just(Directive::None),
        Just(Directive::Each),
    ]
}

fn arb_action() -> impl Strategy<Value = Action> {
    arb_leaf().prop_recursive(4, 48, 5, |inner| {
        let block = (arb_directive(), prop::collection::vec(inner.clone(), 0..5))
            .prop_map(|(d, a)| Pipeline::with_directive(d, a))
            .boxed();
        prop_oneof![
            block.clone().prop_map(Action::Block),
            (block.clone(), prop::option::of(block.clone()))
                .prop_map(|(body, catch)| Action::Try { body, catch }),
            (
                "[a-c]",
                0i128..3,
                block.clone(),
                prop::option::of(block.clone())
            )
                .prop_map(|(n, v, t, e): (String, i128, _, _)| Action::If {
                    branches: vec![(
                        Condition::all(vec![Cond::eq(vars(n.as_str()), Expr::int(v))]),
                        t
                    )],
                    otherwise: e,
                }),
            (
                block.clone(),
                prop::option::of(block.clone()),
                prop::option::of(block)
            )
                .prop_map(|(test, then, otherwise)| Action::With {
                    test,
                    then,
                    otherwise
                }),
        ]
    })
}

fn answer(i: usize, seed: u8) -> EffectResult {
    match (seed as usize + i) % 4 {
        0 => EffectResult::Backend(Ok(A)),
        1 => EffectResult::Backend(Ok(R)),
        2 => EffectResult::Backend(Ok(I)),
        _ => EffectResult::Backend(Err(ErrorValue::new(
            ErrorCode::BackendTimeout,
            format!("t{i}"),
        ))),
    }
}

fn drive(p: Arc<Pipeline>, seed: u8) -> (Outcome, Vec<Effect>, Vec<String>, Context) {
    let mut c = ctx();
    let mut m = Machine::new(p, Arc::new(Library::default()));
    let mut effects = Vec::new();
    let mut step = m.start(&mut c);
    loop {
        match step {
            Step::Done(o) => {
                let logs = m.take_logs().into_iter().map(|l| l.text).collect();
                return (o, effects, logs, c);
            }
            Step::Effect(e) => {
                let a = match &e {
                    Effect::SendReply { .. } => EffectResult::ReplySent,
                    Effect::Backend(_) => answer(effects.len(), seed),
                };
                effects.push(e);
                step = m.resume(&mut c, a).unwrap();
            }
        }
    }
}

proptest! {
    #[test]
    fn same_inputs_same_run(actions in prop::collection::vec(arb_action(), 0..6), dir in arb_directive(), seed in 0u8..4) {
        let p = Pipeline::with_directive(dir, actions);
        let (o1, e1, l1, c1) = drive(p.clone(), seed);
        let (o2, e2, l2, c2) = drive(p, seed);
        prop_assert_eq!(o1, o2);
        prop_assert_eq!(e1, e2);
        prop_assert_eq!(l1, l2);
        prop_assert_eq!(c1.vars, c2.vars);
        prop_assert_eq!(c1.aaa, c2.aaa);
    }
}

/// language.md §3.7 (an enum is "written as a name or a number") and §5 (a code
/// "also accepts its number and its dictionary-style name"): a packet code and an
/// attribute value with dictionary names equal their names in conditions, lists and
/// `map` arms; they still render as numbers.
#[test]
fn codes_and_named_values_equal_their_names() {
    use boomerang_core::eval::ops::CompareOp;
    use boomerang_core::eval::template::{eval_condition, render};
    let status = Expr::Var(VarRef::request_attr(ACCT_STATUS_TYPE));
    let code = Expr::Var(VarRef::RadiusCode(PacketRef::Request));
    let names = |items: &[&str]| Expr::List(items.iter().map(|s| Expr::str(s)).collect());
    let mut bag = boomerang_core::eval::context::AttrBag::new();
    bag.push(ACCT_STATUS_TYPE, vec![0, 0, 0, 3]);
    let c = Context::radius(
        schema(),
        t0(),
        boomerang_core::eval::context::RadiusRequest {
            code: 40,
            attrs: bag,
        },
    );
    let test = |left: &Expr, op: CompareOp, right: Expr| {
        eval_condition(
            &Condition::all(vec![Cond {
                left: left.clone(),
                op,
                right,
            }]),
            &c,
        )
    };
    use CompareOp::{Contains, Eq, Gt, Ne};
    for (left, op, right, expected) in [
        (&status, Eq, Expr::str("Alive"), true),
        (&status, Eq, Expr::str("alive"), true),
        (&status, Eq, Expr::str("Stop"), false),
        (&status, Ne, Expr::str("Alive"), false),
        (&status, Ne, Expr::str("Stop"), true),
        (&status, Eq, names(&["Start", "Alive"]), true),
        (&status, Ne, names(&["Start", "Stop"]), true),
        (&status, Eq, Expr::int(3), true),
        (&status, Eq, Expr::str("3"), true),
        (&status, Eq, Expr::str("bogus"), false),
        (&status, Gt, Expr::str("Stop"), true),
        (&status, Contains, Expr::str("Alive"), false),
        (&code, Eq, Expr::str("Disconnect-Request"), true),
        (&code, Eq, Expr::str("disconnect-request"), true),
        (&code, Eq, Expr::str("DISCONNECT_REQUEST"), true),
        (&code, Eq, Expr::str("40"), true),
        (&code, Eq, Expr::str("Access-Request"), false),
        (&code, Ne, Expr::str("Access-Request"), true),
        (
            &code,
            Eq,
            names(&["Access-Request", "Disconnect-Request"]),
            true,
        ),
    ] {
        assert_eq!(
            test(left, op, right.clone()),
            expected,
            "{left:?} {op} {right:?}"
        );
    }
    // The name on the left works too.
    assert!(eval_condition(
        &Condition::all(vec![Cond::eq(Expr::str("Alive"), status.clone())]),
        &c
    ));
    // A name does not equal a plain variable holding the number.
    assert!(!eval_condition(
        &Condition::all(vec![Cond::eq(Expr::str("Alive"), Expr::int(3))]),
        &c
    ));
    // The text form stays the number.
    assert_eq!(
        render(
            &Template {
                parts: vec![part(status.clone()), text("/"), part(code.clone())]
            },
            &c
        ),
        "3/40"
    );
    // `map` arms written with names.
    let arm = |n: i128| Pipeline::new(vec![set_var("arm", Expr::int(n))]);
    for (subject, arms, expected) in [
        (
            status.clone(),
            vec![
                (MapPattern::Value(Value::String("Stop".into())), arm(1)),
                (MapPattern::Value(Value::String("Alive".into())), arm(2)),
            ],
            2,
        ),
        (
            status.clone(),
            vec![(
                MapPattern::Value(Value::List(vec!["Start".into(), "alive".into()])),
                arm(3),
            )],
            3,
        ),
        (
            code.clone(),
            vec![
                (
                    MapPattern::Value(Value::String("Access-Request".into())),
                    arm(4),
                ),
                (
                    MapPattern::Value(Value::String("disconnect-request".into())),
                    arm(5),
                ),
            ],
            5,
        ),
    ] {
        let mut c = c.clone();
        run(Pipeline::new(vec![Action::Map { subject, arms }]), &mut c);
        assert_eq!(c.vars.get("arm"), Some(&Value::Integer(expected)));
    }
}

/// `aaa.identity` of a RADIUS request is its User-Name; `.name` and `.realm` are the
/// parts around the last `@` (no realm without one); an HTTP request has none.
#[test]
fn aaa_identity_is_the_user_name() {
    let read = |c: &Context, f: AaaField| c.read_var(&VarRef::Aaa(f));
    let s = |v: &str| Value::String(v.to_owned());
    for (user_name, identity, name, realm) in [
        (
            Some("show@realm.example"),
            s("show@realm.example"),
            s("show"),
            s("realm.example"),
        ),
        (
            Some("a@b@example.com"),
            s("a@b@example.com"),
            s("a@b"),
            s("example.com"),
        ),
        (Some("alice"), s("alice"), s("alice"), Value::None),
        (Some(""), Value::None, Value::None, Value::None),
        (None, Value::None, Value::None, Value::None),
    ] {
        let c = match user_name {
            Some(u) => radius_ctx(1, &[(USER_NAME, u)]),
            None => radius_ctx(1, &[(FILTER_ID, "x")]),
        };
        assert_eq!(read(&c, AaaField::Identity), identity, "{user_name:?}");
        assert_eq!(read(&c, AaaField::IdentityName), name, "{user_name:?}");
        assert_eq!(read(&c, AaaField::IdentityRealm), realm, "{user_name:?}");
    }
    // Conditions and templates see it (50_policies.radconf: aaa.identity.realm == "example.com").
    let mut c = radius_ctx(1, &[(USER_NAME, "bob@example.com")]);
    let p = Pipeline::new(vec![Action::if_then(
        Condition::all(vec![Cond::eq(
            Expr::Var(VarRef::Aaa(AaaField::IdentityRealm)),
            Expr::str("example.com"),
        )]),
        vec![Action::accept()],
        Some(vec![Action::reject()]),
    )]);
    assert_eq!(run(p, &mut c), Outcome::Accept);
    // Writable: the User-Name itself is not changed.
    let p = Pipeline::new(vec![Action::set(
        Place::Aaa(AaaPlace::IdentityName),
        Expr::str("carol"),
    )]);
    run(p, &mut c);
    assert_eq!(read(&c, AaaField::Identity), s("carol@example.com"));
    assert_eq!(
        c.read_var(&VarRef::request_attr(USER_NAME)),
        s("bob@example.com")
    );
    let h = Context::http(schema(), t0(), HttpExchange::default());
    assert_eq!(read(&h, AaaField::Identity), Value::None);
}

/// Run-time errors name values as the language writes them (`"abc"`, a map as JSON)
/// and attributes by dictionary name, never in Rust's debug form; `http.status`
/// takes a decimal string as it takes a number.
#[test]
fn error_messages_use_the_language_and_dictionary_names() {
    let http = |q: &[(&str, &str)]| http_request_with(schema(), "POST", q);
    let query = |k: &str| Expr::Var(VarRef::Http(HttpField::Query(k.into())));
    let error_of = |p: Arc<Pipeline>, c: &mut Context| match run(p, c) {
        Outcome::Error(e) => e.message,
        other => panic!("expected an error, got {other:?}"),
    };
    let set_status = Pipeline::new(vec![
        Action::set(Place::Http(HttpPlace::Status), query("s")),
        Action::accept(),
    ]);
    // A decimal string is a status.
    let mut c = http(&[("s", "201")]);
    assert_eq!(run(set_status.clone(), &mut c), Outcome::Accept);
    assert_eq!(http_answer(&c, &Outcome::Accept).status, 201);
    for (s, shown) in [
        ("abc", "\"abc\""),
        ("99", "\"99\""),
        ("600", "\"600\""),
        ("2010", "\"2010\""),
    ] {
        let mut c = http(&[("s", s)]);
        assert_eq!(
            error_of(set_status.clone(), &mut c),
            format!("{shown} is not an HTTP status (100..=599)")
        );
    }
    // A packet code.
    let mut c = http(&[("code", "bo\"gus")]);
    let p = Pipeline::new(vec![Action::set(
        Place::RadiusCode(PacketRef::Reply),
        query("code"),
    )]);
    assert_eq!(
        error_of(p, &mut c),
        "\"bo\\\"gus\" is not a RADIUS packet code (radius.reply.code)"
    );
    let bindings = |place: Place, value: Expr| Bindings {
        assignments: vec![Assignment {
            place,
            op: AssignOp::Set,
            value,
        }],
    };
    let c = http(&[("code", "bogus"), ("a", "1"), ("u", "")]);
    let user_name = Place::RadiusAttr {
        packet: PacketRef::Request,
        attr: USER_NAME,
    };
    for (b, expected) in [
        (
            bindings(Place::RadiusCode(PacketRef::Request), query("code")),
            "bindings: \"bogus\" is not a RADIUS packet code",
        ),
        (
            bindings(
                user_name.clone(),
                Expr::Var(VarRef::Http(HttpField::QueryAll)),
            ),
            "cannot store map {\"a\":\"1\",\"code\":\"bogus\",\"u\":\"\"} in User-Name",
        ),
        (
            bindings(user_name.clone(), query("u")),
            "bindings: User-Name (string) cannot be empty: a value needs at least one octet (RFC 2865 §5)",
        ),
        (
            bindings(
                Place::RadiusAttr {
                    packet: PacketRef::Request,
                    attr: ACCT_STATUS_TYPE,
                },
                query("code"),
            ),
            "Acct-Status-Type: cannot convert string \"bogus\" to an integer attribute",
        ),
        (
            bindings(Place::Vars("x".into()), Expr::int(1)),
            "bindings can only set radius.request.code/attr/attrs, not vars.x",
        ),
    ] {
        let e = eval_bindings(&b, &c).expect_err(expected);
        assert_eq!(e.message, expected);
        assert_eq!(e.code, ErrorCode::InvalidValue);
    }
}
