//! Exact rendering and location of the diagnostics for common slips, recovery after
//! errors (all errors of a file in one run), and robustness limits.

use boomerang_core::lang::{MAX_DEPTH, Severity, parse_text, render_all};

/// Parse `text` as `t.conf` and render all diagnostics.
fn diags(text: &str) -> String {
    let (sources, parsed) = parse_text("t.conf", text);
    render_all(&parsed.diagnostics, &sources)
}

#[test]
fn missing_semicolon_points_after_previous_token() {
    let text =
        "servers {\n    radius \"R\" {\n        secret \"x\"\n        timeout 5s;\n    }\n}\n";
    assert_eq!(
        diags(text),
        "t.conf:3:19: error: expected `;` after statement\n\
         \x20       secret \"x\"\n\
         \x20                 ^\n\
         help: add `;`\n"
    );
    // The statement is kept, and so is the next one.
    let (_, parsed) = parse_text("t.conf", text);
    let radius = &parsed.file.items[0].children()[0];
    let kws: Vec<_> = radius.children().iter().map(|i| i.keyword()).collect();
    assert_eq!(kws, [Some("secret"), Some("timeout")]);
}

#[test]
fn missing_semicolon_before_closing_brace() {
    assert_eq!(
        diags("@execute { accept }\n"),
        "t.conf:1:18: error: expected `;` after statement\n\
         @execute { accept }\n\
         \x20                ^\n\
         help: add `;`\n"
    );
}

#[test]
fn unclosed_block_points_at_opening_brace() {
    assert_eq!(
        diags("aaa {\n    policy \"P\" {\n        handler \"H\" {\n    }\n}\n"),
        "t.conf:1:5: error: unclosed `{`\n\
         aaa {\n\
         \x20   ^\n\
         help: add the matching `}` to close this block\n"
    );
    assert_eq!(
        diags("a {\n  b {\n    c;\n"),
        "t.conf:1:3: error: unclosed `{`\n\
         a {\n\
         \x20 ^\n\
         note: 1 more block inside it is also unclosed\n\
         help: add the matching `}` to close this block\n"
    );
}

#[test]
fn unexpected_closing_brace() {
    let text = "clients {\n}\n}\nservers { }\n";
    assert_eq!(
        diags(text),
        "t.conf:3:1: error: unexpected `}`\n\
         }\n\
         ^\n\
         help: remove it, or check for a missing `{` earlier\n"
    );
    let (_, parsed) = parse_text("t.conf", text);
    assert_eq!(parsed.file.items.len(), 2);
}

#[test]
fn unterminated_string() {
    let text = "x {\n    debug \"hello %{aaa.identity};\n    accept;\n}\n";
    assert_eq!(
        diags(text),
        "t.conf:2:11: error: unterminated string\n\
         \x20   debug \"hello %{aaa.identity};\n\
         \x20         ^~~~~~~~~~~~~~~~~~~~~~~\n\
         help: add the closing `\"` before the end of the line\n"
    );
    // Recovery: the broken statement is dropped, the next line still parses.
    let (_, parsed) = parse_text("t.conf", text);
    let kws: Vec<_> = parsed.file.items[0]
        .children()
        .iter()
        .map(|i| i.keyword())
        .collect();
    assert_eq!(kws, [Some("accept")]);
}

#[test]
fn unterminated_triple_string_and_template_and_regex() {
    assert_eq!(
        diags("x \"\"\"abc\n"),
        "t.conf:1:3: error: unterminated triple-quoted string\n\
         x \"\"\"abc\n\
         \x20 ^~~\n\
         help: close it with `\"\"\"`\n"
    );
    assert_eq!(
        diags("x \"a %{ b \";\n"),
        "t.conf:1:6: error: unterminated template `%{`\n\
         x \"a %{ b \";\n\
         \x20    ^~\n\
         help: close it with `}` on the same line\n"
    );
    assert_eq!(
        diags("if all { a == /ab; }\n"),
        "t.conf:1:15: error: unterminated regex\n\
         if all { a == /ab; }\n\
         \x20             ^\n\
         help: close it with `/` on the same line\n"
    );
    // A template broken inside a triple-quoted string is reported at its `%{`.
    assert_eq!(
        diags("debug \"\"\"\n  a %{x\n  b\n  \"\"\";\n"),
        "t.conf:2:5: error: unterminated template `%{`\n\
         \x20 a %{x\n\
         \x20   ^~\n\
         help: close it with `}` on the same line\n"
    );
}

/// `\"` inside `%{…}` is no escape (strings nest there with bare quotes): the error
/// points at it and says how to write it, not only that the template is left open.
#[test]
fn escaped_quote_inside_a_template_is_pointed_at() {
    let help = "help: write `%{x | default(\"text\")}` without backslashes, even inside a \"…\" string (or use a \"\"\"…\"\"\" string)\n";
    assert_eq!(
        diags("x \"%{a | default(\\\"nobody\\\")}\";\n"),
        format!(
            "t.conf:1:18: error: `\\\"` inside `%{{…}}` is not an escape: a template holds an expression, and its strings are written with bare quotes\n\
             x \"%{{a | default(\\\"nobody\\\")}}\";\n\
             \x20                ^~\n\
             {help}"
        )
    );
    // Bare quotes nest, in both kinds of string; `\"` in a string's text is an escape.
    for fine in [
        "x \"%{a | default(\"nobody\")}\";\n",
        "x \"\"\"%{a | default(\"nobody\")}\"\"\";\n",
        "x \"say \\\"%{a}\\\"\";\n",
    ] {
        assert_eq!(diags(fine), "", "{fine}");
    }
    // Other broken templates keep their message.
    assert!(diags("x \"a %{ b \";\n").starts_with("t.conf:1:6: error: unterminated template `%{`"));
}

#[test]
fn bad_addresses_numbers_and_durations() {
    assert_eq!(
        diags("clients {\n    client \"c\" { source { ip 10.0.0.300; } }\n}\n"),
        "t.conf:2:30: error: invalid IPv4 address `10.0.0.300`\n\
         \x20   client \"c\" { source { ip 10.0.0.300; } }\n\
         \x20                            ^~~~~~~~~~\n\
         help: write four numbers 0-255 separated by dots, e.g. `192.0.2.1` or `10.0.0.0/8`\n"
    );
    assert_eq!(
        diags("ip 10.0.0.0/33;\n"),
        "t.conf:1:4: error: invalid prefix length `/33` in `10.0.0.0/33` (must be 0 to 32)\n\
         ip 10.0.0.0/33;\n\
         \x20  ^~~~~~~~~~~\n"
    );
    assert_eq!(
        diags("ip 2001:db8::zz;\n"),
        "t.conf:1:4: error: invalid IPv6 address `2001:db8::zz`\n\
         ip 2001:db8::zz;\n\
         \x20  ^~~~~~~~~~~~\n"
    );
    assert_eq!(
        diags("timeout 5sec;\n"),
        "t.conf:1:9: error: invalid duration `5sec`\n\
         timeout 5sec;\n\
         \x20       ^~~~\n\
         help: units are ms, s, m (minutes), h, d, w, M (months), y, e.g. `1m30s`\n"
    );
    assert_eq!(
        diags("x = 0xabc;\n"),
        "t.conf:1:5: error: invalid hex bytes `0xabc`\n\
         x = 0xabc;\n\
         \x20   ^~~~~\n\
         help: write an even number of hex digits after `0x`, e.g. `0xaa00`\n"
    );
}

#[test]
fn several_errors_in_one_file_are_all_reported_in_order() {
    let text = "\
servers {
    radius \"R\" {
        listen {
            ip 10.0.0.300;
            port 1812
            timeout 5sec;
        }
        clients \"C\";
    }
}
}
aaa {
    policy \"P\" {
        debug \"oops;
        accept;
    }
";
    let (sources, parsed) = parse_text("t.conf", text);
    let locs: Vec<(usize, usize, String)> = parsed
        .diagnostics
        .iter()
        .map(|d| {
            let s = d.span.unwrap();
            let (l, c) = sources.get(s.file).unwrap().line_col(s.start);
            (l, c, d.message.clone())
        })
        .collect();
    assert_eq!(
        locs,
        vec![
            (4, 16, "invalid IPv4 address `10.0.0.300`".to_owned()),
            (5, 22, "expected `;` after statement".to_owned()),
            (6, 21, "invalid duration `5sec`".to_owned()),
            (11, 1, "unexpected `}`".to_owned()),
            (12, 5, "unclosed `{`".to_owned()),
            (14, 15, "unterminated string".to_owned()),
        ]
    );
    assert!(
        parsed
            .diagnostics
            .iter()
            .all(|d| d.severity == Severity::Error)
    );
    // Items without errors survive: `port 1812` (missing `;` only) and `clients`.
    let radius = &parsed.file.items[0].children()[0];
    let listen = &radius.children()[0];
    let kws: Vec<_> = listen.children().iter().map(|i| i.keyword()).collect();
    assert_eq!(kws, [Some("port")]);
    assert_eq!(radius.children()[1].keyword(), Some("clients"));
}

#[test]
fn other_slips() {
    assert_eq!(
        diags("x = y | f(a b);\n"),
        "t.conf:1:13: error: expected `,` or `)` in filter arguments, found `b`\n\
         x = y | f(a b);\n\
         \x20           ^\n"
    );
    assert_eq!(
        diags("x = [a b;\n"),
        "t.conf:1:5: error: unclosed `[`\n\
         x = [a b;\n\
         \x20   ^\n\
         help: add `]` at the end of the list\n"
    );
    assert_eq!(
        diags("if all { } else ;\n"),
        "t.conf:1:16: error: expected `{` after `else`\n\
         if all { } else ;\n\
         \x20              ^\n\
         help: `else` must be followed by a block: `else { … }`\n\
         t.conf:1:17: warning: unnecessary `;`\n\
         if all { } else ;\n\
         \x20               ^\n\
         help: remove it\n"
    );
    assert_eq!(
        diags("x \"a %{ b c }\";\n"),
        "t.conf:1:11: error: unexpected `c` in template\n\
         x \"a %{ b c }\";\n\
         \x20         ^\n\
         help: a template holds one expression and its filters: `%{ expr | filter(arg) }`\n"
    );
    assert_eq!(
        diags("x $ y;\n"),
        "t.conf:1:3: error: unexpected character `$`\nx $ y;\n  ^\n"
    );
    assert_eq!(
        diags("x = /a/g;\n"),
        "t.conf:1:8: error: unknown regex flag(s) `g`\n\
         x = /a/g;\n\
         \x20      ^\n\
         help: only `i` (case-insensitive) is supported\n"
    );
}

#[test]
fn columns_count_characters_and_tabs_align() {
    assert_eq!(
        diags("\tname \"é\" 1.2.3;\n"),
        "t.conf:1:11: error: invalid IPv4 address `1.2.3`\n\
         \tname \"é\" 1.2.3;\n\
         \t         ^~~~~\n\
         help: write four numbers 0-255 separated by dots, e.g. `192.0.2.1` or `10.0.0.0/8`\n"
    );
}

#[test]
fn deep_nesting_is_capped_without_overflow() {
    let n = 20_000;
    let text = format!("{}x;{}", "a {".repeat(n), "}".repeat(n));
    let (_, parsed) = parse_text("t.conf", &text);
    let errors: Vec<_> = parsed
        .diagnostics
        .iter()
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(errors, ["blocks nested too deeply"]);
    let _ = MAX_DEPTH;
    // Lists and filter arguments share the cap; unbalanced input too.
    for text in [
        format!("x {};", "[".repeat(n)),
        format!("x {}", "a {".repeat(n)),
        format!("x = y{};", " | f(y".repeat(n)),
        format!("x \"{}\";", "%{\"".repeat(n)),
        "}".repeat(n),
    ] {
        let (_, parsed) = parse_text("t.conf", &text);
        assert!(parsed.has_errors());
        assert!(parsed.diagnostics.len() <= n + 2);
    }
    // Exactly at the limit is fine.
    let depth = MAX_DEPTH as usize;
    let ok = format!("{}x;{}", "a {".repeat(depth), "}".repeat(depth));
    let (_, parsed) = parse_text("t.conf", &ok);
    assert!(parsed.diagnostics.is_empty(), "{:?}", parsed.diagnostics);
}

#[test]
fn pathological_inputs_stay_bounded() {
    use boomerang_core::lang::parser::MAX_DIAGNOSTICS;
    let n = 100_000;
    for text in [
        format!("x {};", "/\\".repeat(n)),
        format!("x {};", "$".repeat(n)),
        format!("x \"{}\";", "%{a} ".repeat(n)),
        format!("x {};", "a[".repeat(n)),
        "\"\n".repeat(n),
        format!("x = {};", "a | ".repeat(n)),
        format!("x \"{}\";", "%{\"".repeat(n)),
        format!("x \"\"\"\n{}\"\"\";", "%{x\n".repeat(n)),
        format!("if a {{}} {}", "else {} ".repeat(n)),
        "!".repeat(n),
    ] {
        let (sources, parsed) = parse_text("t.conf", &text);
        assert!(parsed.diagnostics.len() <= MAX_DIAGNOSTICS + 1);
        // Rendering windows long lines instead of printing them whole.
        let rendered = render_all(&parsed.diagnostics, &sources);
        assert!(rendered.len() < 200 * (MAX_DIAGNOSTICS + 1) * 3);
    }
}
