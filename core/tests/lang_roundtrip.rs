//! Property tests: random syntax trees print to text that parses back to an equal
//! tree (spans ignored), and arbitrary input never panics the parser.

use std::net::IpAddr;

use boomerang_core::fuzzing::lang::parse_config;
use boomerang_core::lang::{
    Block, Body, CLAUSE_KEYWORDS, Clause, DurationLit, DurationUnit, Expr, File, FilterCall,
    Filtered, Index, Item, ListExpr, LitKind, Literal, OpTerm, Operator, Path, RegexLit, Segment,
    Span, Template, TemplatePart, Term, parse_text, print, render_all, same_syntax,
};
use proptest::prelude::*;

const D: Span = Span::DUMMY;

const RESERVED: &[&str] = &[
    "true", "false", "none", "any", "eq", "ne", "gt", "ge", "lt", "le", "starts", "contains",
    "ends", "n",
];

fn word() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_-]{0,7}".prop_filter("reserved word", |w| {
        !RESERVED.contains(&w.as_str()) && !CLAUSE_KEYWORDS.contains(&w.as_str())
    })
}

fn plain_path() -> impl Strategy<Value = Path> {
    prop::collection::vec(word(), 1..4).prop_map(|names| Path {
        segments: names
            .into_iter()
            .map(|name| Segment {
                name,
                tag: None,
                index: None,
                span: D,
            })
            .collect(),
        span: D,
    })
}

fn index() -> impl Strategy<Value = Index> {
    prop_oneof![
        any::<u64>().prop_map(Index::Pos),
        Just(Index::Last),
        Just(Index::All),
        plain_path().prop_map(|p| Index::Key(Box::new(p))),
    ]
}

/// Paths with `@` heads, digit segments, at most one tag, and indices.
fn path() -> impl Strategy<Value = Path> {
    (
        any::<bool>(),
        word(),
        prop::collection::vec(
            (prop_oneof![word(), "[0-9]{1,3}"], prop::option::of(index())),
            0..4,
        ),
        prop::option::of((any::<prop::sample::Index>(), 0u32..100)),
        prop::option::of(index()),
    )
        .prop_map(|(at, first, rest, tag, first_index)| {
            let mut segments = vec![Segment {
                name: if at { format!("@{first}") } else { first },
                tag: None,
                index: first_index,
                span: D,
            }];
            segments.extend(rest.into_iter().map(|(name, index)| Segment {
                name,
                tag: None,
                index,
                span: D,
            }));
            if let Some((i, t)) = tag {
                let n = segments.len();
                segments[i.index(n)].tag = Some(t);
            }
            Path { segments, span: D }
        })
}

fn duration_unit() -> impl Strategy<Value = DurationUnit> {
    prop::sample::select(vec![
        DurationUnit::Millis,
        DurationUnit::Seconds,
        DurationUnit::Minutes,
        DurationUnit::Hours,
        DurationUnit::Days,
        DurationUnit::Weeks,
        DurationUnit::Months,
        DurationUnit::Years,
    ])
}

fn lit_kind() -> impl Strategy<Value = LitKind> {
    prop_oneof![
        any::<bool>().prop_map(LitKind::Bool),
        Just(LitKind::None),
        Just(LitKind::Any),
        any::<i64>().prop_map(|i| LitKind::Int(i128::from(i))),
        (any::<i32>(), prop_oneof![Just(0u32), 0u32..100_000])
            .prop_map(|(a, b)| { LitKind::Float(format!("{a}.{b}").parse().unwrap()) }),
        prop::collection::vec((0u64..100_000, duration_unit()), 1..4)
            .prop_map(|parts| LitKind::Duration(DurationLit { parts })),
        prop::collection::vec(any::<u8>(), 1..8).prop_map(LitKind::Bytes),
        any::<IpAddr>().prop_map(LitKind::Ip),
        (any::<std::net::Ipv4Addr>(), 0u8..=32).prop_map(|(a, len)| LitKind::Prefix {
            addr: IpAddr::V4(a),
            len
        }),
        (any::<std::net::Ipv6Addr>(), 0u8..=128).prop_map(|(a, len)| LitKind::Prefix {
            addr: IpAddr::V6(a),
            len
        }),
    ]
}

fn regex() -> impl Strategy<Value = RegexLit> {
    ("[a-z0-9.*+?^$ ()|-]{0,8}", any::<bool>()).prop_map(|(pattern, case_insensitive)| RegexLit {
        pattern,
        case_insensitive,
        span: D,
    })
}

/// Text chunks: ordinary characters, escapes-to-be, line breaks, indentation, and the
/// verbatim `\%{` sequence.
fn text_chunk() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z0-9 .,:;!?'={}()#/é-]{1,8}",
        1 => Just("\"".to_owned()),
        1 => Just("\\".to_owned()),
        1 => Just("\\d".to_owned()),
        1 => Just("\n".to_owned()),
        1 => Just("\n  ".to_owned()),
        1 => Just("\t".to_owned()),
        1 => Just("\r".to_owned()),
        1 => Just("\\%{".to_owned()),
        1 => Just("\"\"\"".to_owned()),
    ]
}

/// Build a canonical template: adjacent text merged, empty text dropped.
fn template(parts: Vec<Result<String, Expr>>) -> Template {
    let mut out: Vec<TemplatePart> = Vec::new();
    for p in parts {
        match p {
            Ok(t) if t.is_empty() => {}
            Ok(t) => {
                if let Some(TemplatePart::Text { text, .. }) = out.last_mut() {
                    text.push_str(&t);
                } else {
                    out.push(TemplatePart::Text { text: t, span: D });
                }
            }
            Err(e) => out.push(TemplatePart::Expr { expr: e, span: D }),
        }
    }
    Template {
        parts: out,
        span: D,
    }
}

fn leaf_expr() -> BoxedStrategy<Expr> {
    prop_oneof![
        lit_kind().prop_map(|kind| Expr::Literal(Literal { kind, span: D })),
        path().prop_map(Expr::Path),
        regex().prop_map(Expr::Regex),
        prop::collection::vec(text_chunk(), 0..4)
            .prop_map(|t| Expr::Str(template(t.into_iter().map(Ok).collect()))),
    ]
    .boxed()
}

fn filter_call(inner: BoxedStrategy<Expr>) -> impl Strategy<Value = FilterCall> {
    (word(), prop::collection::vec(inner, 0..3)).prop_map(|(name, args)| FilterCall {
        name,
        name_span: D,
        args,
        span: D,
    })
}

fn expr() -> BoxedStrategy<Expr> {
    leaf_expr()
        .prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4)
                    .prop_map(|items| Expr::List(ListExpr { items, span: D })),
                (
                    inner.clone(),
                    prop::collection::vec(filter_call(inner.clone()), 1..3)
                )
                    .prop_map(|(base, filters)| match base {
                        Expr::Filtered(mut f) => {
                            f.filters.extend(filters);
                            Expr::Filtered(f)
                        }
                        base => Expr::Filtered(Filtered {
                            base: Box::new(base),
                            filters,
                            span: D,
                        }),
                    }),
                prop::collection::vec(
                    prop_oneof![text_chunk().prop_map(Ok), inner.prop_map(Err),],
                    0..4
                )
                .prop_map(|parts| Expr::Str(template(parts))),
            ]
        })
        .boxed()
}

fn operator() -> impl Strategy<Value = Operator> {
    prop::sample::select(vec![
        Operator::Eq,
        Operator::Ne,
        Operator::Gt,
        Operator::Ge,
        Operator::Lt,
        Operator::Le,
        Operator::Starts,
        Operator::NotStarts,
        Operator::Contains,
        Operator::NotContains,
        Operator::Ends,
        Operator::NotEnds,
        Operator::Assign,
        Operator::AssignIfNone,
        Operator::Append,
        Operator::AssignDeprecated,
        Operator::Arrow,
    ])
}

fn term() -> impl Strategy<Value = Term> {
    prop_oneof![
        3 => expr().prop_map(Term::Expr),
        1 => operator().prop_map(|op| Term::Op(OpTerm { op, span: D })),
    ]
}

fn head() -> impl Strategy<Value = Term> {
    prop_oneof![
        3 => word().prop_map(|w| Term::Expr(Expr::Path(Path {
            segments: vec![Segment { name: w, tag: None, index: None, span: D }],
            span: D,
        }))),
        1 => path().prop_map(|p| Term::Expr(Expr::Path(p))),
        1 => leaf_expr().prop_filter("string head", |e| matches!(e, Expr::Str(_))).prop_map(Term::Expr),
    ]
}

fn statement() -> impl Strategy<Value = Item> {
    (head(), prop::collection::vec(term(), 0..4)).prop_map(|(h, rest)| {
        let mut terms = vec![h];
        terms.extend(rest);
        Item {
            terms,
            body: Body::Semi,
            clauses: Vec::new(),
            span: D,
        }
    })
}

fn block(items: Vec<Item>) -> Block {
    Block { items, span: D }
}

fn item() -> impl Strategy<Value = Item> {
    statement().prop_recursive(4, 40, 4, |inner| {
        (
            head(),
            prop::collection::vec(term(), 0..3),
            prop::collection::vec(inner.clone(), 0..4),
            prop::collection::vec(
                (
                    prop::sample::select(CLAUSE_KEYWORDS.to_vec()),
                    prop::collection::vec(term(), 0..2),
                    prop::collection::vec(inner, 0..3),
                ),
                0..3,
            ),
        )
            .prop_map(|(h, rest, children, clauses)| {
                let mut terms = vec![h];
                terms.extend(rest);
                Item {
                    terms,
                    body: Body::Block(block(children)),
                    clauses: clauses
                        .into_iter()
                        .map(|(kw, terms, items)| Clause {
                            keyword: kw.to_owned(),
                            keyword_span: D,
                            terms,
                            block: block(items),
                            span: D,
                        })
                        .collect(),
                    span: D,
                }
            })
    })
}

/// An `if … then … else if … then … else …` chain as the seeds write it.
fn if_chain() -> impl Strategy<Value = Item> {
    (
        prop::sample::select(vec!["all", "any", "none"]),
        prop::collection::vec(statement(), 1..3),
        prop::collection::vec(statement(), 0..3),
        0usize..3,
    )
        .prop_map(|(dir, conds, actions, elifs)| {
            let w = |s: &str| {
                Term::Expr(Expr::Path(Path {
                    segments: vec![Segment {
                        name: s.to_owned(),
                        tag: None,
                        index: None,
                        span: D,
                    }],
                    span: D,
                }))
            };
            let dir_term = match dir {
                "any" => Term::Expr(Expr::Literal(Literal {
                    kind: LitKind::Any,
                    span: D,
                })),
                "none" => Term::Expr(Expr::Literal(Literal {
                    kind: LitKind::None,
                    span: D,
                })),
                d => w(d),
            };
            let clause = |kw: &str, terms: Vec<Term>, items: Vec<Item>| Clause {
                keyword: kw.to_owned(),
                keyword_span: D,
                terms,
                block: block(items),
                span: D,
            };
            let mut clauses = vec![clause("then", vec![], actions.clone())];
            for _ in 0..elifs {
                clauses.push(clause(
                    "else",
                    vec![w("if"), dir_term.clone()],
                    conds.clone(),
                ));
                clauses.push(clause("then", vec![], actions.clone()));
            }
            clauses.push(clause("else", vec![], actions));
            Item {
                terms: vec![w("if"), dir_term],
                body: Body::Block(block(conds)),
                clauses,
                span: D,
            }
        })
}

fn file() -> impl Strategy<Value = File> {
    prop::collection::vec(prop_oneof![3 => item(), 1 => if_chain()], 0..5)
        .prop_map(|items| File { items })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn printed_trees_parse_back_equal(f in file()) {
        let printed = print(&f);
        let (sources, parsed) = parse_text("p.conf", &printed);
        prop_assert!(
            parsed.diagnostics.is_empty(),
            "{}\n--- printed ---\n{}",
            render_all(&parsed.diagnostics, &sources),
            printed
        );
        prop_assert!(same_syntax(&f, &parsed.file), "differs:\n{}\n{:#?}", printed, parsed.file);
        // And the fuzz body agrees.
        parse_config(printed.as_bytes());
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..512)) {
        parse_config(&data);
    }

    #[test]
    fn config_like_text_never_panics(
        text in "([a-z0-9 {};\"%\\[\\]|()=!<>#\\n/.:@*,\\\\-]|\"\"\"|%\\{|0x|::){0,120}"
    ) {
        parse_config(text.as_bytes());
    }

    #[test]
    fn mutated_seeds_never_panic(
        pos in any::<prop::sample::Index>(),
        cut in 0usize..40,
        insert in "[{}\";\\[\\]%#/\\n]{0,3}",
    ) {
        let seed = include_str!("fixtures/lang/radconf/50_policies.radconf");
        let p = pos.index(seed.len());
        let mut bytes = seed.as_bytes()[..p].to_vec();
        bytes.extend_from_slice(insert.as_bytes());
        bytes.extend_from_slice(&seed.as_bytes()[(p + cut).min(seed.len())..]);
        parse_config(&bytes);
    }
}
