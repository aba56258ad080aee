//! Every configuration example of the seeds and every reference `.radconf` file
//! parses without a single diagnostic, prints canonically, and re-parses to an equal
//! tree. A few spot checks confirm the tree has the expected shape.

use std::path::{Path, PathBuf};

use boomerang_core::lang::{
    Body, Expr, File, Index, Item, LitKind, Operator, TemplatePart, Term, parse_text, print,
    render_all, same_syntax,
};

fn fixture_dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/lang")
        .join(sub)
}

fn fixtures(sub: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(fixture_dir(sub))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

fn parse_clean(name: &str, text: &str) -> File {
    let (sources, parsed) = parse_text(name, text);
    assert!(
        parsed.diagnostics.is_empty(),
        "{name} produced diagnostics:\n{}",
        render_all(&parsed.diagnostics, &sources)
    );
    parsed.file
}

fn assert_round_trip(name: &str, file: &File) {
    let printed = print(file);
    let (sources, again) = parse_text("printed", &printed);
    assert!(
        again.diagnostics.is_empty(),
        "printed {name} does not parse:\n{}\n{printed}",
        render_all(&again.diagnostics, &sources)
    );
    assert!(
        same_syntax(file, &again.file),
        "printed {name} parses differently:\n{printed}"
    );
    // Printing is idempotent.
    assert_eq!(print(&again.file), printed);
}

#[test]
fn seed_blocks_parse_without_diagnostics() {
    let all = fixtures("seeds");
    assert_eq!(all.len(), 19);
    for (name, text) in &all {
        let file = parse_clean(name, text);
        assert!(!file.items.is_empty(), "{name} is empty");
        assert_round_trip(name, &file);
    }
}

#[test]
fn radconf_files_parse_without_diagnostics() {
    let all = fixtures("radconf");
    assert_eq!(all.len(), 7);
    for (name, text) in &all {
        let file = parse_clean(name, text);
        assert!(!file.items.is_empty(), "{name} is empty");
        assert_round_trip(name, &file);
    }
}

fn find<'a>(items: &'a [Item], kw: &str) -> &'a Item {
    items
        .iter()
        .find(|i| i.keyword() == Some(kw))
        .unwrap_or_else(|| panic!("no `{kw}` item"))
}

#[test]
fn error_handling_seed_has_if_else_if_chain() {
    let text =
        std::fs::read_to_string(fixture_dir("seeds").join("rb05_error_handling.conf")).unwrap();
    let file = parse_clean("rb05", &text);
    assert_eq!(file.items.len(), 2);
    let tr = &file.items[0];
    assert_eq!(tr.keyword(), Some("try"));
    assert_eq!(tr.args()[0].as_word(), Some("backend"));
    assert_eq!(
        find(tr.children(), "request").name_string(),
        Some("DISCONNECT_USER")
    );
    let iff = &file.items[1];
    assert_eq!(iff.keyword(), Some("if"));
    assert_eq!(iff.args()[0].as_word(), Some("all"));
    let kws: Vec<&str> = iff.clauses().iter().map(|c| c.keyword.as_str()).collect();
    assert_eq!(kws, ["then", "else", "then"]);
    assert_eq!(iff.clauses()[1].words().as_deref(), Some("if all"));
    // `aaa.caught_error != none;`
    let cond = &iff.clauses()[1].block.items[0];
    assert_eq!(cond.terms[1].as_op(), Some(Operator::Ne));
    assert_eq!(cond.terms[2].as_word(), Some("none"));
    // `reject "operation failed: %{aaa.caught_error}";`
    let rej = &iff.clauses()[2].block.items[0];
    let Some(Expr::Str(t)) = rej.terms[1].as_expr() else {
        panic!()
    };
    assert_eq!(t.parts.len(), 2);
    let TemplatePart::Expr {
        expr: Expr::Path(p),
        span,
    } = &t.parts[1]
    else {
        panic!()
    };
    assert_eq!(p.to_string(), "aaa.caught_error");
    assert_eq!(
        &text[span.start as usize..span.end as usize],
        "%{aaa.caught_error}"
    );
    assert_eq!(
        &text[p.span.start as usize..p.span.end as usize],
        "aaa.caught_error"
    );
}

#[test]
fn debug_triple_string_is_dedented() {
    let text =
        std::fs::read_to_string(fixture_dir("seeds").join("rb06_debug_connection.conf")).unwrap();
    let file = parse_clean("rb06", &text);
    let debug = find(file.items[0].children(), "debug");
    let Some(Expr::Str(t)) = debug.terms[1].as_expr() else {
        panic!()
    };
    let mut rendered = String::new();
    for p in &t.parts {
        match p {
            TemplatePart::Text { text, .. } => rendered.push_str(text),
            TemplatePart::Expr { expr, .. } => {
                rendered.push_str(&format!(
                    "<{}>",
                    boomerang_core::lang::print::expr_to_string(expr)
                ));
            }
        }
    }
    assert_eq!(
        rendered,
        "=== Evaluating connection <connection.id> ===\n\
         Server name: <connection.server_name>\n\
         NAS-Identifier: <connection.status.nas_identifier>\n\
         Peer IP: <connection.peer_ip>\n\
         Certificate CN: <connection.cert.subject.cn>\n\
         Certificate SAN email: <connection.cert.subject_alt.email[0]>"
    );
    assert_eq!(file.items[0].children()[1].keyword(), Some("reject"));
}

#[test]
fn select_example_literals() {
    let text =
        std::fs::read_to_string(fixture_dir("seeds").join("rda08_select_example.conf")).unwrap();
    let file = parse_clean("rda08", &text);
    let conds = file.items[0].children()[0].children();
    assert_eq!(conds.len(), 9);
    let Some(Expr::Regex(r)) = conds[2].terms[2].as_expr() else {
        panic!()
    };
    assert_eq!(
        (r.pattern.as_str(), r.case_insensitive),
        ("simulator", true)
    );
    let Some(Expr::Literal(l)) = conds[3].terms[2].as_expr() else {
        panic!()
    };
    assert_eq!(l.kind, LitKind::Ip("10.9.0.1".parse().unwrap()));
    let p = conds[5].terms[0].as_path().unwrap();
    assert_eq!(p.segments.last().unwrap().index, Some(Index::Pos(0)));
}

#[test]
fn radconf_addresses_and_comments() {
    let text =
        std::fs::read_to_string(fixture_dir("radconf").join("40_clients-radius.radconf")).unwrap();
    let file = parse_clean("40", &text);
    let mut ips = Vec::new();
    fn walk(items: &[Item], ips: &mut Vec<LitKind>) {
        for it in items {
            if it.keyword() == Some("ip")
                && let Some(Expr::Literal(l)) = it.terms[1].as_expr()
            {
                ips.push(l.kind.clone());
            }
            walk(it.children(), ips);
        }
    }
    walk(&file.items, &mut ips);
    assert_eq!(ips.len(), 14);
    assert!(ips.contains(&LitKind::Prefix {
        addr: "2001:db8:aaaa:bbbb::".parse().unwrap(),
        len: 64
    }));
    assert!(ips.contains(&LitKind::Prefix {
        addr: "::".parse().unwrap(),
        len: 0
    }));
    assert!(ips.contains(&LitKind::Ip("::1".parse().unwrap())));
    // Policies: `if any {…} # comment \n then {…}` is still one item with a clause.
    let text = std::fs::read_to_string(fixture_dir("radconf").join("50_policies.radconf")).unwrap();
    let file = parse_clean("50", &text);
    let policy = find(file.items[0].children(), "policy");
    let auth = policy
        .children()
        .iter()
        .find(|h| h.name_string() == Some("AUTHENTICATION"))
        .unwrap();
    let exec = find(auth.children(), "@execute");
    let eap = find(exec.children(), "eap");
    let eap_tls = find(eap.children(), "eap-tls");
    let post = find(eap_tls.children(), "@post-authentication");
    let iff = find(post.children(), "if");
    assert_eq!(iff.clauses().len(), 1);
    assert!(matches!(iff.clauses()[0].block.items[0].body, Body::Semi));
    assert_eq!(iff.clauses()[0].block.items[0].keyword(), Some("modify"));
    assert!(matches!(
        iff.clauses()[0].block.items[0].terms[2],
        Term::Op(o) if o.op == Operator::Assign
    ));
}
