//! Every construct of the language (language.md §1, the seeds and the brief) parses
//! without diagnostics into the expected shape.

use boomerang_core::lang::{
    Expr, File, Index, Item, LitKind, Operator, TemplatePart, Term, parse_text,
    print::expr_to_string, render_all,
};

fn parse_ok(text: &str) -> File {
    let (sources, parsed) = parse_text("c.conf", text);
    assert!(
        parsed.diagnostics.is_empty(),
        "{}",
        render_all(&parsed.diagnostics, &sources)
    );
    parsed.file
}

fn lit(t: &Term) -> &LitKind {
    match t.as_expr() {
        Some(Expr::Literal(l)) => &l.kind,
        other => panic!("not a literal: {other:?}"),
    }
}

fn ops(item: &Item) -> Vec<Operator> {
    item.operators().map(|(_, o)| o).collect()
}

#[test]
fn control_flow_constructs() {
    let f = parse_ok(
        r#"
@execute {
    with first { pap; chap; } do { accept; } else { reject "bad password"; }
    map radius.request.attr.Service-Type {
        "Framed-User" => { accept; }
        any => { reject; }
    }
    try backend "A";
    try backend { name "X"; request "Q"; }
    try all { backend "B"; } catch { error "failed"; }
    try { backend "C"; }
    first { try backend "A"; try backend "B"; error "all failed"; }
    each { reply; } none { ignore; } while { stop; }
    invoke "LOG_IT";
    reject_errors on;
    authentication { pap; }
}
"#,
    );
    let body = f.items[0].children();
    let with = &body[0];
    assert_eq!(with.keyword(), Some("with"));
    let kws: Vec<_> = with.clauses().iter().map(|c| c.keyword.as_str()).collect();
    assert_eq!(kws, ["do", "else"]);
    let map = &body[1];
    assert_eq!(
        expr_to_string(map.args()[0].as_expr().unwrap()),
        "radius.request.attr.Service-Type"
    );
    assert_eq!(map.children()[0].name_string(), None);
    assert_eq!(
        map.children()[0].terms[0].as_plain_str(),
        Some("Framed-User")
    );
    assert_eq!(ops(&map.children()[0]), [Operator::Arrow]);
    assert_eq!(map.children()[1].keyword(), Some("any"));
    assert!(body[2].is_statement());
    assert_eq!(body[3].args()[0].as_word(), Some("backend"));
    assert_eq!(body[4].clauses()[0].keyword, "catch");
    assert!(body[5].clauses().is_empty());
    assert_eq!(
        body.iter().filter_map(Item::keyword).next_back(),
        Some("authentication")
    );
}

#[test]
fn conditions_and_operators() {
    let f = parse_ok(
        r#"
conditions all {
    a == b; a eq b; a != b; a ne b; a > 1; a gt 1; a >= 1; a ge 1; a < 1; a lt 1; a <= 1; a le 1;
    a starts "x"; a !starts "x"; a contains "x"; a !contains "x"; a ends "x"; a !ends "x";
    d == [a b "c" 1 10.0.0.0/8];
    e == /^simul.*$/i; e != /x\/y/;
    aaa.method == any; x != none;
}
"#,
    );
    let c = f.items[0].children();
    let all: Vec<Operator> = c.iter().flat_map(ops).collect();
    use Operator::*;
    assert_eq!(
        all,
        [
            Eq,
            Eq,
            Ne,
            Ne,
            Gt,
            Gt,
            Ge,
            Ge,
            Lt,
            Lt,
            Le,
            Le,
            Starts,
            NotStarts,
            Contains,
            NotContains,
            Ends,
            NotEnds,
            Eq,
            Eq,
            Ne,
            Eq,
            Ne
        ]
    );
    let Some(Expr::List(l)) = c[18].terms[2].as_expr() else {
        panic!()
    };
    assert_eq!(l.items.len(), 5);
    let Some(Expr::Regex(r)) = c[20].terms[2].as_expr() else {
        panic!()
    };
    assert_eq!(r.pattern, "x\\/y");
    assert!(!r.case_insensitive);
    assert_eq!(lit(&c[21].terms[2]), &LitKind::Any);
    assert_eq!(lit(&c[22].terms[2]), &LitKind::None);
}

#[test]
fn data_actions_bindings_and_logging() {
    let f = parse_ok(
        r#"
modify { a = v; b ?= v; c += v; d := v; }
modify vars.certemail = cert.subject_alt.email;
bindings { radius.request.code = radius.request.code; radius.request.attr.User-Name; }
mapping { vars.x = col; user.group += b; vars.y = "%{radius.reply.attr.Filter-Id}"; }
filter { Tunnel-Type; Tunnel-Type:1; 3GPP-IMSI; }
log "AUTH_LOG" { json { "user" aaa.identity; "result" aaa.result; } }
debug "text %{x}";
debug vars.x;
debug """
    a "quoted" line
      indented %{ aaa.identity | lowercase }
    """;
reject "text";
accept;
include "file.conf";
include_glob "dir/*.conf";
"#,
    );
    let i = &f.items;
    assert_eq!(
        ops(&i[0].children()[0])
            .into_iter()
            .chain(i[0].children()[1..].iter().flat_map(ops))
            .collect::<Vec<_>>(),
        [
            Operator::Assign,
            Operator::AssignIfNone,
            Operator::Append,
            Operator::AssignDeprecated
        ]
    );
    assert_eq!(i[2].children()[1].terms.len(), 1);
    let tagged = i[4].children()[1].terms[0].as_path().unwrap();
    assert_eq!(tagged.segments[0].tag, Some(1));
    assert_eq!(i[4].children()[2].keyword(), Some("3GPP-IMSI"));
    let json = &i[5].children()[0];
    assert_eq!(json.children()[0].terms[0].as_plain_str(), Some("user"));
    let Some(Expr::Str(t)) = i[8].terms[1].as_expr() else {
        panic!()
    };
    let TemplatePart::Text { text, .. } = &t.parts[0] else {
        panic!()
    };
    assert_eq!(text, "a \"quoted\" line\n  indented ");
    let TemplatePart::Expr {
        expr: Expr::Filtered(fx),
        ..
    } = &t.parts[1]
    else {
        panic!()
    };
    assert_eq!(fx.filters[0].name, "lowercase");
    assert_eq!(i[11].name_string(), Some("file.conf"));
    assert_eq!(i[12].keyword(), Some("include_glob"));
}

#[test]
fn literals_paths_and_filters() {
    let f = parse_ok(
        r#"
v true false none any 0 -12 1.5 -0.25 5s 1m30s 2M 250ms 1y 0xaa00 10.0.0.0/8 :: ::1 ::/0
  2001:db8:aaaa:bbbb::100 2001:db8:aaaa:bbbb::/64 0.0.0.0 192.0.2.1;
p radius.request.attr.User-Name radius.dict.Acct-Status-Type.Alive aaa.challenge-message
  connection.cert.subject_alt.email[0] x.attr.Class[n] x.attr.Class[*] cache.groups[aaa.identity]
  Tunnel-Type:1 @final-execute radius.ACCESS_REQUEST http.path.1 udp round-robin;
x = radius.request.attr.User-Name | lowercase | substring(0, 3) | default("n/a", vars.x) | json | jsonpath("$.a");
s "tab\there" "quote\"s" "back\\slash" "keep \d verbatim" "nl\n" "%{ x | join(", ") } and %{y}";
"#,
    );
    let v = &f.items[0];
    let kinds: Vec<String> = v.args().iter().map(|t| format!("{:?}", lit(t))).collect();
    assert_eq!(kinds.len(), 22);
    assert_eq!(lit(&v.terms[6]), &LitKind::Int(-12));
    assert_eq!(lit(&v.terms[8]), &LitKind::Float(-0.25));
    let LitKind::Duration(d) = lit(&v.terms[10]) else {
        panic!()
    };
    assert_eq!(d.millis(), Some(90_000));
    let LitKind::Duration(d) = lit(&v.terms[11]) else {
        panic!()
    };
    assert_eq!(d.millis(), Some(2 * 30 * 86_400_000));
    assert_eq!(lit(&v.terms[14]), &LitKind::Bytes(vec![0xaa, 0x00]));
    let p = &f.items[1];
    let paths: Vec<String> = p
        .args()
        .iter()
        .map(|t| expr_to_string(t.as_expr().unwrap()))
        .collect();
    assert_eq!(
        paths,
        [
            "radius.request.attr.User-Name",
            "radius.dict.Acct-Status-Type.Alive",
            "aaa.challenge-message",
            "connection.cert.subject_alt.email[0]",
            "x.attr.Class[n]",
            "x.attr.Class[*]",
            "cache.groups[aaa.identity]",
            "Tunnel-Type:1",
            "@final-execute",
            "radius.ACCESS_REQUEST",
            "http.path.1",
            "udp",
            "round-robin",
        ]
    );
    let last = |i: usize| {
        p.args()[i]
            .as_path()
            .unwrap()
            .segments
            .last()
            .unwrap()
            .index
            .clone()
    };
    assert_eq!(last(4), Some(Index::Last));
    assert_eq!(last(5), Some(Index::All));
    let Some(Expr::Filtered(fx)) = f.items[2].terms[2].as_expr() else {
        panic!()
    };
    let names: Vec<_> = fx.filters.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["lowercase", "substring", "default", "json", "jsonpath"]
    );
    assert_eq!(fx.filters[2].args.len(), 2);
    let strs: Vec<Option<&str>> = f.items[3].args().iter().map(Term::as_plain_str).collect();
    assert_eq!(
        strs,
        [
            Some("tab\there"),
            Some("quote\"s"),
            Some("back\\slash"),
            Some("keep \\d verbatim"),
            Some("nl\n"),
            None
        ]
    );
}

#[test]
fn unsupported_constructs_still_parse() {
    parse_ok(
        r#"
eap { eap-tls { tls { certificate "C"; } @post-authentication { invoke "L"; } } }
chargeable-user-identity { secret "S"; }
logging { application { memory { loglevel info; size 16384; } } }
scripts { lua "x" { } }
ip-accept { ip 10.0.0.0/8; }
"#,
    );
}
