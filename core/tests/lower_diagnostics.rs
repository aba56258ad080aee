//! Every kind of lowering error, with its exact text and `line:col`, and the fact that
//! lowering reports all problems, not just the first.

mod lower_support;

use boomerang_core::eval::ir::Action;
use boomerang_core::lang::compile::lower::Stage;
use lower_support::*;

fn one(stage: Stage, text: &str) -> String {
    let d = pipeline_diags(stage, text);
    assert_eq!(d.len(), 1, "expected one diagnostic: {d:#?}");
    d.into_iter().next().unwrap()
}

#[test]
fn unknown_attribute_with_suggestion() {
    assert_eq!(
        one(
            Stage::Execute,
            "modify vars.x = radius.request.attr.User-Nmae;"
        ),
        "1:37: error: unknown attribute `User-Nmae`, did you mean `User-Name`?"
    );
    assert_eq!(
        one(Stage::Execute, "modify radius.reply.attr.Zorglub = 1;"),
        "1:26: error: unknown attribute `Zorglub`"
    );
    assert_eq!(
        one(
            Stage::Execute,
            "modify vars.x = radius.dict.Acct-Status-Type.Alvie;"
        ),
        "1:46: error: unknown value of `Acct-Status-Type` `Alvie`, did you mean `Alive`?"
    );
    assert_eq!(
        one(Stage::Execute, "modify vars.x = radius.dict.User-Name.Foo;"),
        "1:29: error: attribute `User-Name` has no named values"
    );
    assert_eq!(
        one(
            Stage::Execute,
            r#"modify radius.reply.attr.Acct-Status-Type = "Alvie";"#
        ),
        "1:45: error: unknown value of `Acct-Status-Type` `Alvie`, did you mean `Alive`?"
    );
}

#[test]
fn read_only_and_constant_writes() {
    assert_eq!(
        one(Stage::Execute, "modify radius.request.code = 2;"),
        "1:8: error: `radius.request.code` is read-only"
    );
    assert_eq!(
        one(Stage::Execute, "modify aaa.policy = \"x\";"),
        "1:8: error: `aaa.policy` is read-only"
    );
    assert_eq!(
        one(Stage::Execute, "set radius.reply.attr.Class[0] 0xaa;"),
        "1:5: error: `radius.reply.attr.Class[0]` is read-only [help: assign the attribute without an index: `=` replaces every instance, `+=` adds one]"
    );
    assert_eq!(
        one(Stage::Execute, "modify errors.ERROR = 1;"),
        "1:8: error: `errors.ERROR` is a constant and cannot be assigned"
    );
    assert_eq!(
        one(Stage::Execute, "modify connection_id = 1;"),
        "1:8: error: unknown variable `connection_id` [help: to write text, quote it: \"connection_id\"]"
    );
}

#[test]
fn connection_outside_select() {
    let msg = "error: `connection.*` is only available inside `@select` [help: the connection a request arrived on is `radius.connection.*`]";
    for stage in [Stage::Execute, Stage::FinalExecute, Stage::Named] {
        assert_eq!(
            one(stage, "if all { connection.id == 1; } then { accept; }"),
            format!("1:10: {msg}")
        );
    }
    assert_eq!(
        conditions("conditions all {\n  connection.peer_ip == 10.0.0.1;\n}").diags,
        [format!("2:3: {msg}")]
    );
    // In a template too.
    assert_eq!(
        one(Stage::Execute, r#"debug "x %{connection.server_name}";"#),
        format!("1:12: {msg}")
    );
    assert!(pipeline_diags(Stage::Select, "debug connection.id;").is_empty());
    assert_eq!(
        one(Stage::Select, "debug connection.status.nas_identifer;"),
        "1:7: error: unknown field of `connection` `status.nas_identifer`, did you mean `status.nas_identifier`?"
    );
}

#[test]
fn stage_rules() {
    assert_eq!(
        one(Stage::FinalExecute, "reply;"),
        "1:1: error: `reply` cannot be used in `@final-execute`: the reply has already been sent"
    );
    assert_eq!(
        one(Stage::Select, "accept; reply;"),
        "1:9: error: `reply` cannot be used in `@select`"
    );
    assert_eq!(
        one(Stage::Select, "modify radius.reply.attr.Filter-Id = \"x\";"),
        "1:8: error: `radius.reply.attr.Filter-Id` cannot be written inside `@select` [help: `@select` only reads the caller's context; it may write `vars.*`, `aaa.reason`, `aaa.message` and `aaa.caught_error`, which last for one candidate]"
    );
    assert_eq!(
        one(Stage::FinalExecute, "modify http.status = 500;"),
        "1:8: error: `http.status` cannot be changed in `@final-execute`: the reply has already been sent"
    );
    assert!(
        pipeline_diags(Stage::FinalExecute, "modify vars.x = 1; invoke \"LOG_IT\";").is_empty()
    );
}

#[test]
fn unknown_filter_wrong_arity_bad_arguments() {
    assert_eq!(
        one(Stage::Execute, "modify vars.x = vars.y | lowercse;"),
        "1:26: error: unknown filter `lowercse`, did you mean `lowercase`?"
    );
    assert_eq!(
        one(Stage::Execute, "modify vars.x = vars.y | frobnicate;"),
        "1:26: error: unknown filter `frobnicate`"
    );
    assert_eq!(
        one(Stage::Execute, "modify vars.x = vars.y | ldap_escape;"),
        "1:26: error: filter `ldap_escape` is not supported"
    );
    assert_eq!(
        one(
            Stage::Execute,
            "modify vars.x = vars.y | substring(1, 2, 3);"
        ),
        "1:26: error: filter `substring` takes 1 to 2 argument(s), 3 given"
    );
    assert_eq!(
        one(Stage::Execute, "modify vars.x = vars.y | default;"),
        "1:26: error: filter `default` takes 1 argument(s), 0 given"
    );
    assert_eq!(
        one(Stage::Execute, "modify vars.x = vars.y | remove();"),
        "1:26: error: filter `remove` takes at least 1 argument(s), 0 given"
    );
    assert_eq!(
        one(Stage::Execute, "modify vars.x = vars.y | substring(\"a\");"),
        "1:26: error: substring expects integer indices, not string"
    );
    assert_eq!(
        one(
            Stage::Execute,
            "modify vars.x = vars.y | jsonpath(\"a.b[\");"
        ),
        "1:26: error: invalid JSONPath `a.b[` at offset 0: a JSONPath query starts with `$`",
    );
    assert_eq!(
        one(
            Stage::Execute,
            "modify radius.request.attrs = radius.request.attrs | remove(Proxy-Stat);"
        ),
        "1:61: error: unknown attribute `Proxy-Stat`, did you mean `Proxy-State`?"
    );
    // In a template, the position is inside the string.
    assert_eq!(
        one(Stage::Execute, r#"debug "user %{aaa.identity | upper}";"#),
        "1:30: error: unknown filter `upper`"
    );
}

#[test]
fn bad_regex() {
    assert_eq!(
        conditions("conditions all {\n    vars.x == /ab(c/;\n}").diags,
        ["2:15: error: invalid regular expression: unclosed group"]
    );
    assert_eq!(
        conditions("conditions all { vars.x > /a/; }").diags,
        ["1:27: error: a regex can only be compared with `==` or `!=`, not `>`"]
    );
}

#[test]
fn unknown_backend_query_and_pipeline() {
    assert_eq!(
        one(Stage::Execute, r#"backend "UPSTRAEM";"#),
        "1:9: error: unknown backend `UPSTRAEM`, did you mean `UPSTREAM`?"
    );
    assert_eq!(
        one(Stage::Execute, r#"backend { name "NOPE"; }"#),
        "1:16: error: unknown backend `NOPE`"
    );
    assert_eq!(
        one(
            Stage::Execute,
            r#"backend { name "REVERSE_DYNAUTH"; query "DISCONECT_USER"; }"#
        ),
        "1:41: error: backend `REVERSE_DYNAUTH` has no query `DISCONECT_USER`, did you mean `DISCONNECT_USER`?"
    );
    assert_eq!(
        one(
            Stage::Execute,
            r#"backend { name "UPSTREAM"; request "Q"; }"#
        ),
        "1:36: error: backend `UPSTREAM` has no query `Q` (it defines no queries)"
    );
    assert_eq!(
        one(Stage::Execute, r#"backend "SQL_BACKEND";"#),
        "1:9: error: backend `SQL_BACKEND` is an SQL backend and needs a query [help: `backend { name \"SQL_BACKEND\"; query \"QUERY\"; }`]"
    );
    assert_eq!(
        one(Stage::Execute, r#"backend { query "Q"; }"#),
        "1:1: error: `backend { … }` needs a `name` [help: `backend { name \"NAME\"; query \"QUERY\"; }`]"
    );
    assert_eq!(
        one(Stage::Execute, r#"backend { name "UPSTREAM"; range 1 6; }"#),
        "1:28: error: `range` is not supported"
    );
    assert_eq!(
        one(Stage::Execute, r#"invoke "LOG_ACOUNTING";"#),
        "1:8: error: unknown pipeline `LOG_ACOUNTING`, did you mean `LOG_ACCOUNTING`?"
    );
}

#[test]
fn unknown_and_unsupported_actions() {
    assert_eq!(
        one(Stage::Execute, "acept;"),
        "1:1: error: unknown action `acept`, did you mean `accept`?"
    );
    assert_eq!(
        one(Stage::Execute, "frobnicate;"),
        "1:1: error: unknown action `frobnicate`"
    );
    for action in [
        "challenge \"otp\";",
        "eap { eap-tls { } }",
        "chargeable-user-identity { secret \"x\"; }",
        "must backend \"UPSTREAM\";",
        "assert;",
        "discard;",
        "until { accept; }",
        "copy { User-Name; }",
        "filter { Tunnel-Type; }",
        "count \"x\";",
        "chap;",
        "mschapv2;",
        "rate_limit_gcra { }",
    ] {
        let word = action.split([' ', ';']).next().unwrap();
        assert_eq!(
            one(Stage::Execute, action),
            format!("1:1: error: `{word}` is not supported"),
            "{action}"
        );
    }
    assert_eq!(
        one(Stage::Execute, "vars.x = 1;"),
        "1:1: error: unknown action `vars.x` [help: assignments go inside `modify`: `modify vars.x = …;`]"
    );
}

#[test]
fn unsupported_variables() {
    let cases = [
        (
            "radiusproxy.request.attr.User-Name",
            "1:17: error: `radiusproxy.*` is not supported",
        ),
        ("acct.status", "1:17: error: `acct.*` is not supported"),
        ("auth.protocol", "1:17: error: `auth.*` is not supported"),
        (
            "cert.subject_alt.email",
            "1:17: error: `cert.*` is not supported",
        ),
        ("tls.version", "1:17: error: `tls.*` is not supported"),
        ("eap.method", "1:17: error: `eap.*` is not supported"),
        ("util.rand.16", "1:17: error: `util.*` is not supported"),
        ("aaa.trace", "1:17: error: `aaa.trace` is not supported"),
        (
            "radius.request.attr.Tunnel-Type:1",
            "1:37: error: attribute tags (`Tunnel-Type:1`) are not supported",
        ),
        (
            "http.body.user",
            "1:17: error: `http.body.user` is not supported [help: parse the body and query it: `http.json | jsonpath(\"$.field\")`]",
        ),
        (
            "radius.attr.User-Name",
            "1:17: error: `radius.attr.User-Name` is not supported [help: write `radius.request.attr.<Name>` (or `radius.reply.attr.<Name>`)]",
        ),
        (
            "radius.ACESS_REQUEST",
            "1:24: error: unknown packet code constant `radius.ACESS_REQUEST`, did you mean `radius.ACCESS_REQUEST`?",
        ),
        (
            "radius.requst.code",
            "1:24: error: unknown field of `radius` `requst`, did you mean `request`?",
        ),
        ("vars.x[0]", "1:22: error: `vars.x[0]` cannot be indexed"),
        (
            "radius.request.code[0]",
            "1:32: error: `radius.request.code[0]` cannot be indexed",
        ),
        (
            "varz.x",
            "1:17: error: unknown variable `varz.x`, did you mean `vars.x`?",
        ),
        // `[-1]` reads like a key index; it is said to be a negative index.
        (
            "radius.request.attr.Class[-1]",
            "1:37: error: negative indices (`[-1]`) are not supported: `[N]` counts from 0 (`[0]` is the first value), `[n]` is the last value, `[*]` all of them",
        ),
        (
            "radius.request.attr.Class[vars.i]",
            "1:37: error: key indices (`[other.variable]`) are not supported",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(
            one(Stage::Execute, &format!("modify vars.t = {text};")),
            expected,
            "{text}"
        );
    }
    let d = one(
        Stage::Execute,
        "modify vars.t = errors.NO_REVERSE_CONECTIONS;",
    );
    assert_eq!(
        d,
        "1:24: error: unknown error code `errors.NO_REVERSE_CONECTIONS`, did you mean `errors.NO_REVERSE_CONNECTIONS`?"
    );
}

#[test]
fn malformed_control_flow() {
    assert_eq!(
        one(Stage::Execute, "if all { vars.x == 1; } else { accept; }"),
        "1:25: error: expected `then`, found `else` [help: `if all { … } then { … }`]"
    );
    assert_eq!(
        one(Stage::Execute, "if first { vars.x == 1; } then { accept; }"),
        "1:4: error: `if` takes `all`, `any` or `none`, not `first`"
    );
    assert_eq!(
        one(Stage::Execute, "if { vars.x == 1; } then { accept; }"),
        "1:1: error: expected `all`, `any` or `none` after `if` [help: e.g. `if all { … }`]"
    );
    assert_eq!(
        one(Stage::Execute, "if all { vars.x; } then { accept; }"),
        "1:10: error: a condition needs an operator: `left op right;` [help: e.g. `vars.flag == true;` or `vars.x != none;`]"
    );
    assert_eq!(
        one(Stage::Execute, "if all { vars.x = 1; } then { accept; }"),
        "1:17: error: `=` is not a comparison operator [help: compare with `==`]"
    );
    assert_eq!(
        one(
            Stage::Execute,
            "if all { any { vars.x == 1; } } then { accept; }"
        ),
        "1:10: error: nested condition groups are not supported"
    );
    assert_eq!(
        one(
            Stage::Execute,
            "if all { vars.x == 1; } then { accept; } else { } else { }"
        ),
        "1:51: error: unexpected `else` after the final `else`"
    );
    assert_eq!(
        one(
            Stage::Execute,
            "map vars.x { \"a\" => { accept; } vars.y => { } }"
        ),
        "1:33: error: a `map` arm must be a constant value"
    );
    assert_eq!(
        one(Stage::Execute, "with bogus { pap; } do { accept; }"),
        "1:6: error: expected a directive after `with`, found `bogus` [help: directives: while, first, any, all, none, each]"
    );
    assert_eq!(
        one(Stage::Execute, "accept { }"),
        "1:8: error: `accept` does not take a block"
    );
    assert_eq!(
        one(Stage::Execute, "first;"),
        "1:1: error: `first` needs a block: `first { … }`"
    );
    assert_eq!(
        one(Stage::Execute, "stop now;"),
        "1:6: error: unexpected `now` after `stop`"
    );
    assert_eq!(
        one(Stage::Execute, "reject_errors maybe;"),
        "1:15: error: `reject_errors` takes `on` or `off`"
    );
    assert_eq!(
        one(Stage::Execute, "try;"),
        "1:1: error: `try` needs an action or a block [help: `try backend \"NAME\";` or `try { … } catch { … }`]"
    );
    assert_eq!(
        one(Stage::Execute, "modify { vars.x == 1; }"),
        "1:17: error: `==` is not an assignment operator [help: assign with `=`, `?=` or `+=`]"
    );
    assert_eq!(
        one(
            Stage::Execute,
            "log \"L\" { json { \"a\" 1; } format \"x\"; }"
        ),
        "1:27: error: `log` takes one of `json`, `format` or `message`"
    );
    assert_eq!(
        one(Stage::Execute, "debug { log \"L\"; }"),
        "1:1: error: `debug { … }` is not supported"
    );
}

#[test]
fn query_block_errors() {
    assert_eq!(
        bindings("radius.reply.code = 2;").diags,
        [
            "1:1: error: `radius.reply.code` cannot be set in `bindings` [help: bindings build the request being sent: set `radius.request.code`, `radius.request.attr.<Name>` or `radius.request.attrs`]"
        ]
    );
    assert_eq!(
        bindings(r#"radius.request.code = "disconect-request";"#).diags,
        [
            "1:23: error: `disconect-request` is not a RADIUS packet code, did you mean `Disconnect-Request`? [help: write a constant such as `radius.DISCONNECT_REQUEST`, a number, or a name such as \"CoA-Request\"]"
        ]
    );
    assert_eq!(
        bindings("radius.request.code = 300;").diags,
        [
            "1:23: error: `300` is not a RADIUS packet code [help: write a constant such as `radius.DISCONNECT_REQUEST`, a number, or a name such as \"CoA-Request\"]"
        ]
    );
    // A constant reply code could never be sent.
    let reply_code = "1:23: error: Access-Accept (2) is a reply code, not a request code: a query with it could never be sent [help: set `radius.request.code` to a request code such as `radius.DISCONNECT_REQUEST`, `radius.COA_REQUEST` or `radius.ACCESS_REQUEST`, or copy the incoming one with `radius.request.code = radius.request.code;`]";
    assert_eq!(
        bindings("radius.request.code = radius.ACCESS_ACCEPT;").diags,
        [reply_code]
    );
    assert_eq!(bindings("radius.request.code = 2;").diags, [reply_code]);
    assert_eq!(
        bindings("radius.request.code = 99;").diags,
        [
            "1:23: error: 99 is not a request code: a query with it could never be sent [help: set `radius.request.code` to a request code such as `radius.DISCONNECT_REQUEST`, `radius.COA_REQUEST` or `radius.ACCESS_REQUEST`, or copy the incoming one with `radius.request.code = radius.request.code;`]"
        ]
    );
    for fine in [
        "radius.request.code = radius.request.code;",
        "radius.request.code = radius.STATUS_SERVER;",
        "radius.request.code = \"accounting-request\";",
        "radius.request.code = vars.code;",
    ] {
        assert_eq!(bindings(fine).diags, Vec::<String>::new(), "{fine}");
    }
    assert_eq!(
        mapping("radius.request.code = radius.reply.code;").diags,
        ["1:1: error: `radius.request.code` is read-only"]
    );
    assert_eq!(
        sql_mapping("vars.x = 1;").diags,
        ["1:10: error: expected a column name (a bare word or a plain string)"]
    );
    assert_eq!(
        sql_params("a b;").diags,
        [
            "1:1: error: expected one value per line in SQL `bindings` [help: each line binds the next `?` of the statement, e.g. `radius.request.attr.User-Name;`]"
        ]
    );
    let l = conditions("conditions first { }");
    assert_eq!(
        l.diags,
        ["1:12: error: `conditions` takes `all`, `any` or `none`, not `first`"]
    );
    assert!(l.value.is_none());
}

#[test]
fn every_problem_is_reported_and_good_actions_survive() {
    let l = pipeline(
        Stage::Execute,
        r#"
acept;
modify vars.x = radius.request.attr.Usr-Name;
accept "fine";
if all { connection.id == 1; vars.y == /(/; } then { backend "NOPE"; } else { reply; }
invoke "LOG_IT";
"#,
    );
    assert_eq!(
        l.diags,
        [
            "2:1: error: unknown action `acept`, did you mean `accept`?",
            "3:37: error: unknown attribute `Usr-Name`, did you mean `User-Name`?",
            "5:10: error: `connection.*` is only available inside `@select` [help: the connection a request arrived on is `radius.connection.*`]",
            "5:40: error: invalid regular expression: unclosed group",
            "5:62: error: unknown backend `NOPE`",
        ]
    );
    // The actions without errors are kept, in order.
    assert_eq!(l.value.actions.len(), 2);
    assert!(matches!(l.value.actions[0], Action::Result { .. }));
    assert!(matches!(l.value.actions[1], Action::Invoke(_)));
}

#[test]
fn real_configuration_policies_report_only_unsupported_constructs() {
    // The `@execute`/`@final-execute` blocks of the real 50_policies.radconf.
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/lang/radconf/50_policies.radconf"
    ))
    .unwrap();
    let (sources, parsed) = boomerang_core::lang::parse_text("50_policies.radconf", &text);
    assert!(!parsed.has_errors());
    let mut diagnostics = Vec::new();
    let mut names = names();
    for (i, b) in [
        "RADIUS_PROXY_AUTH_EXAMPLE_ORG",
        "RADIUS_PROXY_ACCT_EXAMPLE_ORG",
        "RADSEC_PROXY_EXAMPLE_NET",
    ]
    .into_iter()
    .enumerate()
    {
        let mut entry = names.backends["UPSTREAM"].clone();
        entry.id = boomerang_core::eval::ir::BackendId(10 + i as u32);
        names.backends.insert(b.into(), entry);
    }
    names.pipelines.insert(
        "LOG_AUTHENTICATION".into(),
        boomerang_core::eval::ir::PipelineId(2),
    );
    let mut cx = boomerang_core::lang::compile::lower::LowerCx {
        dictionary: dict(),
        names: &names,
        diagnostics: &mut diagnostics,
    };
    let aaa = &parsed.file.items[0];
    let policy = &aaa.children()[0];
    let mut pipelines = 0;
    for handler in policy.children() {
        for item in handler.children() {
            let stage = match item.keyword() {
                Some("@execute") => Stage::Execute,
                Some("@final-execute") => Stage::FinalExecute,
                Some("conditions") => {
                    assert!(
                        boomerang_core::lang::compile::lower::lower_conditions(&mut cx, item)
                            .is_some()
                    );
                    continue;
                }
                _ => continue,
            };
            boomerang_core::lang::compile::lower::lower_pipeline(
                &mut cx,
                stage,
                item.block().unwrap(),
            );
            pipelines += 1;
        }
    }
    assert_eq!(pipelines, 10);
    let rendered = render_short(&diagnostics, &sources);
    assert_eq!(
        rendered,
        [
            "97:17: error: `eap` is not supported",
            "146:17: error: `chargeable-user-identity` is not supported",
        ]
    );
}

#[test]
fn static_templates_read_only_env() {
    use boomerang_core::eval::ir::{Expr, Template, TemplatePart, VarRef};
    use boomerang_core::lang::compile::lower::{LowerCx, lower_static_template};
    let (sources, block) = parse_block(r#"secret "%{env.RADSEC_SECRET}-x"; filename "%{vars.x}";"#);
    let names = names();
    let mut diagnostics = Vec::new();
    let mut cx = LowerCx {
        dictionary: dict(),
        names: &names,
        diagnostics: &mut diagnostics,
    };
    let template = |i: usize| match &block.items[i].terms[1] {
        boomerang_core::lang::Term::Expr(boomerang_core::lang::Expr::Str(t)) => t.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        lower_static_template(&mut cx, &template(0)),
        Some(Template {
            parts: vec![
                TemplatePart::Expr(Expr::Var(VarRef::Env("RADSEC_SECRET".into()))),
                TemplatePart::Text("-x".into()),
            ]
        })
    );
    assert_eq!(lower_static_template(&mut cx, &template(1)), None);
    assert_eq!(
        render_short(&diagnostics, &sources),
        [
            "1:46: error: `vars.x` cannot be read here: outside execution pipelines only `env.*` is available"
        ]
    );
}
