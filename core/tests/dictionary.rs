//! Behaviour of the RADIUS dictionary: built-in standard data, the FreeRADIUS-format
//! loader, and the lookups the rest of the server uses.

use boomerang_core::radius::dictionary::{
    AttrDef, Dictionary, DictionaryError, DictionaryErrorKind as Kind, Encrypt, MAX_INCLUDE_DEPTH,
    MemorySource, NoSource, SourceError, VendorFormat,
};
use boomerang_core::radius::id::{AttrId, DataType};
use proptest::prelude::*;

fn builtin_attr(name: &str) -> &'static AttrDef {
    Dictionary::builtin()
        .attr(name)
        .unwrap_or_else(|| panic!("built-in attribute {name} is missing"))
}

/// Load `text` on top of the built-in dictionary.
fn load(text: &str) -> Result<Dictionary, Vec<DictionaryError>> {
    let mut dict = Dictionary::builtin().clone();
    dict.load_text("test.dict", text, &mut NoSource)
        .map(|()| dict)
}

fn load_err(text: &str) -> Vec<DictionaryError> {
    match load(text) {
        Ok(_) => panic!("expected errors loading:\n{text}"),
        Err(errors) => errors,
    }
}

// ----- built-in data ------------------------------------------------------------------

#[test]
fn attribute_lookup_is_case_insensitive() {
    let dict = Dictionary::builtin();
    for spelling in ["User-Name", "user-name", "USER-NAME", "uSeR-nAmE"] {
        let def = dict.attr(spelling).unwrap();
        assert_eq!(def.id, AttrId::Standard(1));
        assert_eq!(def.name, "User-Name");
    }
    assert_eq!(
        dict.attr("nas-identifier").unwrap().id,
        AttrId::Standard(32)
    );
    assert_eq!(dict.attr("No-Such-Attribute"), None);
    assert_eq!(
        dict.attr_by_id(AttrId::Standard(32)).unwrap().name,
        "NAS-Identifier"
    );
}

#[test]
fn acct_status_type_alive_is_an_alias_of_interim_update() {
    let dict = Dictionary::builtin();
    let ast = builtin_attr("Acct-Status-Type");
    assert_eq!(dict.value_number(ast, "Alive"), Some(3));
    assert_eq!(dict.value_number(ast, "alive"), Some(3));
    assert_eq!(dict.value_number(ast, "Interim-Update"), Some(3));
    assert_eq!(dict.value_name(ast, 3), Some("Interim-Update"));
    assert_eq!(dict.value_name(ast, 1), Some("Start"));
    assert_eq!(dict.value_name(ast, 2), Some("Stop"));
    assert_eq!(dict.value_number(ast, "Accounting-On"), Some(7));
    assert_eq!(dict.value_number(ast, "Tunnel-Link-Reject"), Some(14));
    // Aliases appear among the names but not among the canonical values.
    assert!(dict.value_names(ast).any(|(n, v)| n == "Alive" && v == 3));
    assert_eq!(dict.values(ast).filter(|(n, _)| *n == 3).count(), 1);
}

#[test]
fn every_error_cause_value_is_present() {
    let dict = Dictionary::builtin();
    let ec = builtin_attr("Error-Cause");
    assert_eq!(ec.id, AttrId::Standard(101));
    assert_eq!(ec.data_type, DataType::Integer);
    let expected: &[(u32, &str)] = &[
        (201, "Residual-Context-Removed"),
        (202, "Invalid-EAP-Packet"),
        (401, "Unsupported-Attribute"),
        (402, "Missing-Attribute"),
        (403, "NAS-Identification-Mismatch"),
        (404, "Invalid-Request"),
        (405, "Unsupported-Service"),
        (406, "Unsupported-Extension"),
        (407, "Invalid-Attribute-Value"),
        (501, "Administratively-Prohibited"),
        (502, "Proxy-Request-Not-Routable"),
        (503, "Session-Context-Not-Found"),
        (504, "Session-Context-Not-Removable"),
        (505, "Proxy-Processing-Error"),
        (506, "Resources-Unavailable"),
        (507, "Request-Initiated"),
        (508, "Multiple-Session-Selection-Unsupported"),
        (509, "Location-Info-Required"),
        (510, "Missing-Message-Authenticator"),
        (601, "Response-Too-Big"),
    ];
    for (number, name) in expected {
        assert_eq!(
            dict.value_name(ec, *number),
            Some(*name),
            "Error-Cause {number}"
        );
        assert_eq!(
            dict.value_number(ec, name),
            Some(*number),
            "Error-Cause {name}"
        );
    }
    let numbers: Vec<u64> = dict.values(ec).map(|(n, _)| n).collect();
    assert_eq!(
        numbers.len(),
        expected.len(),
        "no unexpected Error-Cause values"
    );
    // The RFC 5176 wordings are accepted as aliases (the configuration language
    // example writes `Error-Cause = "Request-Not-Routable"`).
    assert_eq!(dict.value_number(ec, "Request-Not-Routable"), Some(502));
    assert_eq!(
        dict.value_number(ec, "Other-Proxy-Processing-Error"),
        Some(505)
    );
    assert_eq!(
        dict.value_number(ec, "Residual-Session-Context-Removed"),
        Some(201)
    );
}

#[test]
fn service_type_values() {
    let dict = Dictionary::builtin();
    let st = builtin_attr("Service-Type");
    let expected = [
        (1, "Login-User"),
        (2, "Framed-User"),
        (3, "Callback-Login-User"),
        (4, "Callback-Framed-User"),
        (5, "Outbound-User"),
        (6, "Administrative-User"),
        (7, "NAS-Prompt-User"),
        (8, "Authenticate-Only"),
        (9, "Callback-NAS-Prompt"),
        (10, "Call-Check"),
        (11, "Callback-Administrative"),
        (12, "Voice"),
        (13, "Fax"),
        (14, "Modem-Relay"),
        (15, "IAPP-Register"),
        (16, "IAPP-AP-Check"),
        (17, "Authorize-Only"),
        (18, "Framed-Management"),
        (19, "Additional-Authorization"),
    ];
    for (number, name) in expected {
        assert_eq!(dict.value_name(st, number), Some(name));
        assert_eq!(dict.value_number(st, &name.to_lowercase()), Some(number));
    }
}

#[test]
fn other_enumerations_are_complete() {
    let dict = Dictionary::builtin();
    let count = |name: &str| dict.values(builtin_attr(name)).count();
    assert_eq!(count("Acct-Terminate-Cause"), 22);
    assert_eq!(count("Framed-Protocol"), 8);
    assert_eq!(count("Tunnel-Type"), 13);
    assert_eq!(count("Tunnel-Medium-Type"), 15);
    let nas_port_type = builtin_attr("NAS-Port-Type");
    for (n, name) in [
        (0, "Async"),
        (5, "Virtual"),
        (15, "Ethernet"),
        (19, "Wireless-802.11"),
        (30, "PPPoA"),
        (34, "PPPoEoQinQ"),
    ] {
        assert_eq!(dict.value_name(nas_port_type, n), Some(name));
    }
    let tt = builtin_attr("Tunnel-Type");
    assert_eq!(dict.value_number(tt, "VLAN"), Some(13));
    let tmt = builtin_attr("Tunnel-Medium-Type");
    assert_eq!(dict.value_number(tmt, "IP"), Some(1));
    assert_eq!(dict.value_name(tmt, 1), Some("IPv4"));
    assert_eq!(dict.value_name(tmt, 6), Some("IEEE-802"));
}

#[test]
fn password_and_eap_flags() {
    let up = builtin_attr("User-Password");
    assert_eq!(up.id, AttrId::Standard(2));
    assert_eq!(up.flags.encrypt, Encrypt::UserPassword);
    assert!(!up.flags.has_tag);

    let tp = builtin_attr("Tunnel-Password");
    assert_eq!(tp.id, AttrId::Standard(69));
    assert_eq!(tp.flags.encrypt, Encrypt::TunnelPassword);
    assert!(tp.flags.has_tag);

    let eap = builtin_attr("EAP-Message");
    assert_eq!(eap.id, AttrId::Standard(79));
    assert!(eap.flags.concat);
    assert_eq!(eap.data_type, DataType::Octets);

    assert!(builtin_attr("Tunnel-Type").flags.has_tag);
    assert_eq!(
        builtin_attr("Message-Authenticator").id,
        AttrId::Standard(80)
    );
    assert_eq!(builtin_attr("ARAP-Password").flags.length, Some(16));
    assert_eq!(builtin_attr("Event-Timestamp").data_type, DataType::Date);
    assert_eq!(builtin_attr("Vendor-Specific").data_type, DataType::Vsa);
}

#[test]
fn extended_attributes() {
    let ext = |base, ext| AttrId::Extended { base, ext };
    assert_eq!(builtin_attr("Operator-NAS-Identifier").id, ext(241, 8));
    assert_eq!(
        builtin_attr("Operator-NAS-Identifier").data_type,
        DataType::Octets
    );
    assert_eq!(builtin_attr("Response-Length").id, ext(241, 3));
    assert_eq!(builtin_attr("Original-Packet-Code").id, ext(241, 4));
    assert_eq!(builtin_attr("Frag-Status").id, ext(241, 1));
    assert_eq!(
        builtin_attr("Extended-Attribute-1").data_type,
        DataType::Extended
    );
    assert_eq!(
        builtin_attr("Extended-Attribute-5").data_type,
        DataType::LongExtended
    );
    assert_eq!(builtin_attr("Extended-Vendor-Specific-5").id, ext(245, 26));
    assert_eq!(
        builtin_attr("Extended-Vendor-Specific-5").data_type,
        DataType::Evs
    );
    assert_eq!(builtin_attr("Operator-Name").id, AttrId::Standard(126));
    assert_eq!(
        builtin_attr("Chargeable-User-Identity").id,
        AttrId::Standard(89)
    );
    assert_eq!(
        builtin_attr("NAS-IPv6-Address").data_type,
        DataType::Ipv6Addr
    );
    assert_eq!(
        builtin_attr("MIP6-Feature-Vector").data_type,
        DataType::Integer64
    );
}

#[test]
fn dsl_forum_vendor_is_built_in() {
    let dict = Dictionary::builtin();
    let v = dict.vendor("adsl-forum").unwrap();
    assert_eq!(v.id, 3561);
    assert_eq!(v.format, VendorFormat::STANDARD);
    assert_eq!(
        builtin_attr("ADSL-Agent-Circuit-Id").id,
        AttrId::Vendor {
            vendor: 3561,
            typ: 1
        }
    );
    assert_eq!(
        builtin_attr("ADSL-Agent-Circuit-Id").vendor_id(),
        Some(3561)
    );
}

#[test]
fn attributes_iterate_in_id_order() {
    let dict = Dictionary::builtin();
    let ids: Vec<AttrId> = dict.attributes().map(|a| a.id).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
    assert_eq!(ids.first(), Some(&AttrId::Standard(1)));
    assert_eq!(ids.len(), dict.attribute_count());
}

#[test]
fn builtin_counts() {
    let dict = Dictionary::builtin();
    // Pinned so that accidental additions or removals are noticed.
    assert_eq!(dict.attribute_count(), 241);
    assert_eq!(dict.value_count(), 217);
}

#[test]
fn suggestions_for_misspelt_names() {
    let dict = Dictionary::builtin();
    assert_eq!(dict.suggest("User-Nmae"), Some("User-Name"));
    assert_eq!(dict.suggest("user-nam"), Some("User-Name"));
    assert_eq!(dict.suggest("NAS-Identifer"), Some("NAS-Identifier"));
    assert_eq!(dict.suggest("Acct-Sesion-Id"), Some("Acct-Session-Id"));
    assert_eq!(dict.suggest("Completely-Unrelated"), None);
    let ast = builtin_attr("Acct-Status-Type");
    assert_eq!(
        dict.suggest_value(ast, "Interim-Updat"),
        Some("Interim-Update")
    );
    assert_eq!(dict.suggest_value(ast, "Nothing-Like-It"), None);
}

// ----- loader: vendors, values, includes ---------------------------------------------

const ACME: &str = "\
# A made-up vendor with two-octet types and one-octet lengths.
VENDOR       Acme 64512 format=2,1
BEGIN-VENDOR Acme
ATTRIBUTE    Acme-Role        1     integer
ATTRIBUTE    Acme-Group       300   string   has_tag
ATTRIBUTE    Acme-Key         0x10  octets   encrypt=2
ATTRIBUTE    Acme-Servers     4     ipaddr   array
VALUE        Acme-Role        Guest  0
VALUE        Acme-Role        Admin  0x2
END-VENDOR   Acme
VENDOR       WiMAX-Like 64513 format=1,1,c
VENDOR       Usr-Like   64514 format=4,0
";

#[test]
fn vendor_block_with_format() {
    let dict = load(ACME).unwrap();
    let acme = dict.vendor("ACME").unwrap();
    assert_eq!(acme.id, 64512);
    assert_eq!(
        acme.format,
        VendorFormat {
            type_octets: 2,
            length_octets: 1,
            continuation: false
        }
    );
    let group = dict.attr("acme-group").unwrap();
    assert_eq!(
        group.id,
        AttrId::Vendor {
            vendor: 64512,
            typ: 300
        }
    );
    assert!(group.flags.has_tag);
    let key = dict.attr("Acme-Key").unwrap();
    assert_eq!(
        key.id,
        AttrId::Vendor {
            vendor: 64512,
            typ: 16
        }
    );
    assert_eq!(key.flags.encrypt, Encrypt::TunnelPassword);
    assert!(dict.attr("Acme-Servers").unwrap().flags.array);
    let role = dict.attr("Acme-Role").unwrap();
    assert_eq!(dict.value_number(role, "admin"), Some(2));
    assert_eq!(dict.value_name(role, 0), Some("Guest"));
    assert!(dict.vendor_by_id(64513).unwrap().format.continuation);
    assert_eq!(dict.vendor_by_id(64514).unwrap().format.type_octets, 4);
    assert_eq!(dict.vendor_by_id(64514).unwrap().format.length_octets, 0);
    // Built-ins are still there.
    assert!(dict.attr("User-Name").is_some());
    let vendors: Vec<u32> = dict.vendors().map(|v| v.id).collect();
    assert_eq!(vendors, vec![3561, 14122, 64512, 64513, 64514]);
}

#[test]
fn vendor_type_must_fit_the_format() {
    let errors = load_err(
        "VENDOR Small 64600\nBEGIN-VENDOR Small\nATTRIBUTE Small-Big 256 string\nEND-VENDOR Small\n",
    );
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].line, 3);
    assert!(matches!(errors[0].kind, Kind::NumberOutOfRange { .. }));
}

#[test]
fn dotted_vendor_numbers_and_old_style_vendor_flag() {
    let dict = load(
        "VENDOR Acme 64512\n\
         ATTRIBUTE Acme-Dotted 26.64512.7 string\n\
         ATTRIBUTE Acme-Old 8 integer Acme\n\
         ATTRIBUTE Acme-Evs 241.26.64512.9 octets\n",
    )
    .unwrap();
    assert_eq!(
        dict.attr("Acme-Dotted").unwrap().id,
        AttrId::Vendor {
            vendor: 64512,
            typ: 7
        }
    );
    assert_eq!(
        dict.attr("Acme-Old").unwrap().id,
        AttrId::Vendor {
            vendor: 64512,
            typ: 8
        }
    );
    assert_eq!(
        dict.attr("Acme-Evs").unwrap().id,
        AttrId::ExtendedVendor {
            base: 241,
            vendor: 64512,
            typ: 9
        }
    );
}

#[test]
fn values_may_precede_their_attribute() {
    let dict = load("VALUE Site-Mode Fast 1\nATTRIBUTE Site-Mode 230 integer\n").unwrap();
    let mode = dict.attr("Site-Mode").unwrap();
    assert_eq!(dict.value_number(mode, "Fast"), Some(1));
}

#[test]
fn comments_blank_lines_and_crlf() {
    let dict = load("# header\r\n\r\n  ATTRIBUTE\tSite-A 230 string # trailing\r\nvalue Service-Type Site-Special 200\r\n")
        .unwrap();
    assert_eq!(dict.attr("Site-A").unwrap().data_type, DataType::String);
    let st = dict.attr("Service-Type").unwrap();
    assert_eq!(dict.value_number(st, "Site-Special"), Some(200));
}

#[test]
fn flags_internal_applies_to_following_attributes() {
    let dict = load(
        "ATTRIBUTE Wire-A 230 string\nFLAGS internal\nATTRIBUTE Int-A 231 string\nFLAGS !internal\nATTRIBUTE Wire-B 232 string\n",
    )
    .unwrap();
    assert!(!dict.attr("Wire-A").unwrap().flags.internal);
    assert!(dict.attr("Int-A").unwrap().flags.internal);
    assert!(!dict.attr("Wire-B").unwrap().flags.internal);
}

#[test]
fn redefinition_rules() {
    // Same name, same number: accepted, newest type wins.
    let dict = load("ATTRIBUTE Site-A 230 string\nATTRIBUTE Site-A 230 octets\n").unwrap();
    assert_eq!(dict.attr("Site-A").unwrap().data_type, DataType::Octets);
    // New name for an existing number: alias, new name printed.
    let dict = load("ATTRIBUTE Client-IP-Of-NAS 4 ipaddr\n").unwrap();
    assert_eq!(
        dict.attr("NAS-IP-Address").unwrap().name,
        "Client-IP-Of-NAS"
    );
    assert_eq!(
        dict.attr("client-ip-of-nas").unwrap().id,
        AttrId::Standard(4)
    );
    // Reloading the same definitions is harmless.
    let dict = load("ATTRIBUTE User-Name 1 string\nVALUE Acct-Status-Type Alive 3\n").unwrap();
    assert_eq!(&dict, Dictionary::builtin());
}

#[test]
fn a_failed_load_changes_nothing() {
    let mut dict = Dictionary::builtin().clone();
    let result = dict.load_text(
        "bad.dict",
        "ATTRIBUTE Good-One 230 string\nATTRIBUTE Bad-One 231 nosuchtype\n",
        &mut NoSource,
    );
    assert!(result.is_err());
    assert_eq!(dict.attr("Good-One"), None);
    assert_eq!(&dict, Dictionary::builtin());
}

#[test]
fn include_is_relative_to_the_including_file() {
    let mut source = MemorySource::new()
        .with(
            "/etc/boomerang/dictionary",
            "$INCLUDE vendors/acme\n$INCLUDE- local/missing\n",
        )
        .with(
            "/etc/boomerang/vendors/acme",
            "VENDOR Acme 64512\n$INCLUDE ../more/acme-attrs\n",
        )
        .with(
            "/etc/boomerang/more/acme-attrs",
            "BEGIN-VENDOR Acme\nATTRIBUTE Acme-Role 1 integer\nEND-VENDOR Acme\n",
        );
    let mut dict = Dictionary::builtin().clone();
    dict.load("/etc/boomerang/dictionary", &mut source).unwrap();
    assert_eq!(
        dict.attr("Acme-Role").unwrap().id,
        AttrId::Vendor {
            vendor: 64512,
            typ: 1
        }
    );
}

#[test]
fn include_errors() {
    // Missing mandatory include, reported at the include line.
    let mut source = MemorySource::new().with("d/main", "# first\n$INCLUDE gone\n");
    let errors = Dictionary::new().load("d/main", &mut source).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(
        (errors[0].file.as_str(), errors[0].line, errors[0].column),
        ("d/main", 2, 10)
    );
    assert_eq!(
        errors[0].kind,
        Kind::IncludeFailed {
            path: "gone".into(),
            reason: SourceError::NotFound.to_string()
        }
    );

    // The top-level file itself missing.
    let errors = Dictionary::new()
        .load("absent", &mut MemorySource::new())
        .unwrap_err();
    assert_eq!(errors[0].line, 0);
    assert!(matches!(errors[0].kind, Kind::ReadFailed { .. }));
}

/// A source whose every file exists but cannot be read.
struct Unreadable;

impl boomerang_core::radius::dictionary::DictionarySource for Unreadable {
    fn read(
        &mut self,
        _path: &str,
        _relative_to: Option<&str>,
    ) -> Result<boomerang_core::radius::dictionary::SourceFile, SourceError> {
        Err(SourceError::Unreadable("permission denied".into()))
    }
}

#[test]
fn optional_include_skips_only_missing_files() {
    let mut dict = Dictionary::new();
    dict.load_text("main", "$INCLUDE- absent\n", &mut NoSource)
        .unwrap();
    let errors = dict
        .load_text("main", "$INCLUDE- locked\n", &mut Unreadable)
        .unwrap_err();
    assert_eq!(
        errors[0].to_string(),
        "main:1:11: error: cannot include `locked`: permission denied"
    );
}

#[test]
fn include_cycles_are_detected() {
    let mut source = MemorySource::new()
        .with("d/a", "ATTRIBUTE Cycle-A 230 string\n$INCLUDE b\n")
        .with("d/b", "$INCLUDE sub/../a\n");
    let errors = Dictionary::new().load("d/a", &mut source).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].file, "d/b");
    assert_eq!(errors[0].line, 1);
    assert_eq!(errors[0].kind, Kind::IncludeCycle { path: "d/a".into() });

    let mut source = MemorySource::new().with("self", "$INCLUDE self\n");
    let errors = Dictionary::new().load("self", &mut source).unwrap_err();
    assert_eq!(
        errors[0].kind,
        Kind::IncludeCycle {
            path: "self".into()
        }
    );
}

#[test]
fn include_depth_is_bounded() {
    let mut source = MemorySource::new();
    for i in 0..=MAX_INCLUDE_DEPTH + 2 {
        source.insert(&format!("f{i}"), &format!("$INCLUDE f{}\n", i + 1));
    }
    let errors = Dictionary::new().load("f0", &mut source).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].file, format!("f{}", MAX_INCLUDE_DEPTH - 1));
    assert!(matches!(
        errors[0].kind,
        Kind::IncludeTooDeep {
            max: MAX_INCLUDE_DEPTH,
            ..
        }
    ));
}

#[test]
fn vendor_blocks_are_per_file() {
    let mut source = MemorySource::new()
        .with(
            "main",
            "VENDOR Acme 64512\nBEGIN-VENDOR Acme\n$INCLUDE inner\nEND-VENDOR Acme\n",
        )
        .with("inner", "ATTRIBUTE Inner-Plain 230 string\n");
    let mut dict = Dictionary::new();
    dict.load("main", &mut source).unwrap();
    assert_eq!(dict.attr("Inner-Plain").unwrap().id, AttrId::Standard(230));
}

// ----- every error kind, with its line ---------------------------------------------------

#[test]
fn every_error_kind_is_reported_at_its_line() {
    // (text, line, column, predicate)
    type Check = fn(&Kind) -> bool;
    let cases: &[(&str, u32, u32, Check)] = &[
        (
            "FROBNICATE x\n",
            1,
            1,
            |k| matches!(k, Kind::UnknownKeyword { keyword } if keyword == "FROBNICATE"),
        ),
        (
            "\nBEGIN-TLV Foo\n",
            2,
            1,
            |k| matches!(k, Kind::Unsupported { construct } if construct == "BEGIN-TLV"),
        ),
        ("PROTOCOL RADIUS 1\n", 1, 1, |k| {
            matches!(k, Kind::Unsupported { .. })
        }),
        ("STRUCT Foo\n", 1, 1, |k| {
            matches!(k, Kind::Unsupported { .. })
        }),
        ("ATTRIBUTE Foo 230\n", 1, 18, |k| {
            matches!(
                k,
                Kind::MissingField {
                    field: "data type",
                    ..
                }
            )
        }),
        (
            "ATTRIBUTE Foo 230 string has_tag extra\n",
            1,
            34,
            |k| matches!(k, Kind::UnexpectedField { field, .. } if field == "extra"),
        ),
        ("ATTRIBUTE Foo 2x0 string\n", 1, 15, |k| {
            matches!(k, Kind::InvalidNumber { .. })
        }),
        ("ATTRIBUTE Foo 256 string\n", 1, 15, |k| {
            matches!(k, Kind::NumberOutOfRange { .. })
        }),
        ("ATTRIBUTE Foo 0 string\n", 1, 15, |k| {
            matches!(k, Kind::NumberOutOfRange { .. })
        }),
        ("ATTRIBUTE Foo 26.9 string\n", 1, 15, |k| {
            matches!(k, Kind::InvalidOid { .. })
        }),
        ("ATTRIBUTE Foo 1..2 string\n", 1, 15, |k| {
            matches!(k, Kind::InvalidOid { .. })
        }),
        ("ATTRIBUTE Foo 6.1 string\n", 1, 15, |k| {
            matches!(k, Kind::NestedTlv { .. })
        }),
        ("ATTRIBUTE Foo .1 string\n", 1, 15, |k| {
            matches!(k, Kind::NestedTlv { .. })
        }),
        ("ATTRIBUTE Foo 241.5.1 string\n", 1, 15, |k| {
            matches!(k, Kind::NestedTlv { .. })
        }),
        (
            "ATTRIBUTE Foo 230 strang\n",
            1,
            19,
            |k| matches!(k, Kind::UnknownType { name } if name == "strang"),
        ),
        ("ATTRIBUTE Foo 230 evs\n", 1, 19, |k| {
            matches!(k, Kind::TypeNotAllowed { .. })
        }),
        ("ATTRIBUTE Foo 230 integer[4]\n", 1, 19, |k| {
            matches!(k, Kind::TypeNotAllowed { .. })
        }),
        (
            "ATTRIBUTE Foo 230 string encrpyt=1\n",
            1,
            26,
            |k| matches!(k, Kind::UnknownFlag { flag } if flag == "encrpyt=1"),
        ),
        ("ATTRIBUTE Foo 230 string encrypt=4\n", 1, 26, |k| {
            matches!(k, Kind::InvalidFlag { .. })
        }),
        ("ATTRIBUTE Foo 230 integer encrypt=3\n", 1, 27, |k| {
            matches!(k, Kind::InvalidFlag { .. })
        }),
        ("ATTRIBUTE Foo 230 string concat\n", 1, 26, |k| {
            matches!(k, Kind::InvalidFlag { .. })
        }),
        ("ATTRIBUTE Foo 230 octets array\n", 1, 26, |k| {
            matches!(k, Kind::InvalidFlag { .. })
        }),
        ("ATTRIBUTE Foo 230 tlv has_tag\n", 1, 23, |k| {
            matches!(k, Kind::InvalidFlag { .. })
        }),
        ("ATTRIBUTE Foo 26.777.1 string\n", 1, 15, |k| {
            matches!(k, Kind::UnknownVendor { .. })
        }),
        (
            "BEGIN-VENDOR Nobody\nATTRIBUTE Nobody-X 1 string\nEND-VENDOR Nobody\n",
            1,
            14,
            |k| matches!(k, Kind::UnknownVendor { name } if name == "Nobody"),
        ),
        ("VALUE Not-An-Attribute X 1\n", 1, 7, |k| {
            matches!(k, Kind::UnknownAttribute { .. })
        }),
        ("VALUE User-Name X 1\n", 1, 7, |k| {
            matches!(k, Kind::ValuesNotAllowed { .. })
        }),
        ("VALUE Service-Type X 4294967296\n", 1, 22, |k| {
            matches!(k, Kind::NumberOutOfRange { .. })
        }),
        ("VALUE Service-Type X -1\n", 1, 22, |k| {
            matches!(k, Kind::InvalidNumber { .. })
        }),
        ("VENDOR Foo 64512 format=3,1\n", 1, 18, |k| {
            matches!(k, Kind::InvalidVendorFormat { .. })
        }),
        ("VENDOR Foo 64512 format=2,1,c\n", 1, 18, |k| {
            matches!(k, Kind::InvalidVendorFormat { .. })
        }),
        ("VENDOR Foo 64512 layout=1,1\n", 1, 18, |k| {
            matches!(k, Kind::InvalidVendorFormat { .. })
        }),
        ("VENDOR Foo 16777216\n", 1, 12, |k| {
            matches!(k, Kind::NumberOutOfRange { .. })
        }),
        ("VENDOR 1234 64512\n", 1, 8, |k| {
            matches!(k, Kind::InvalidName { .. })
        }),
        ("ATTRIBUTE User-Name 230 string\n", 1, 11, |k| {
            matches!(
                k,
                Kind::AttributeConflict {
                    existing: AttrId::Standard(1),
                    new: AttrId::Standard(230),
                    ..
                }
            )
        }),
        ("VENDOR ADSL-Forum 64512\n", 1, 8, |k| {
            matches!(
                k,
                Kind::VendorConflict {
                    existing: 3561,
                    new: 64512,
                    ..
                }
            )
        }),
        ("VALUE Acct-Status-Type Alive 4\n", 1, 24, |k| {
            matches!(
                k,
                Kind::ValueConflict {
                    existing: 3,
                    new: 4,
                    ..
                }
            )
        }),
        (
            "VENDOR A 64512\nVENDOR B 64513\nBEGIN-VENDOR A\nEND-VENDOR B\n",
            4,
            12,
            |k| matches!(k, Kind::VendorBlockMismatch { .. }),
        ),
        ("END-VENDOR A\n", 1, 12, |k| {
            matches!(k, Kind::EndVendorWithoutBegin { .. })
        }),
        (
            "VENDOR A 64512\nVENDOR B 64513\nBEGIN-VENDOR A\nBEGIN-VENDOR B\nEND-VENDOR A\n",
            4,
            14,
            |k| matches!(k, Kind::NestedVendorBlock { .. }),
        ),
        (
            "VENDOR A 64512\n\nBEGIN-VENDOR A\nATTRIBUTE A-X 1 string\n",
            3,
            14,
            |k| matches!(k, Kind::UnclosedVendorBlock { .. }),
        ),
        (
            "VENDOR A 64512\nBEGIN-VENDOR A format=Extended-Vendor-Specific-7\nEND-VENDOR A\n",
            2,
            16,
            |k| matches!(k, Kind::InvalidVendorFormat { .. }),
        ),
        ("$INCLUDE somewhere\n", 1, 10, |k| {
            matches!(k, Kind::IncludeFailed { .. })
        }),
        ("FLAGS sparkly\n", 1, 7, |k| {
            matches!(k, Kind::UnknownFlag { .. })
        }),
    ];
    for (text, line, column, check) in cases {
        let errors = load_err(text);
        assert_eq!(errors.len(), 1, "one error for {text:?}: {errors:?}");
        let e = &errors[0];
        assert_eq!(
            (e.line, e.column),
            (*line, *column),
            "location for {text:?}: {e}"
        );
        assert!(check(&e.kind), "kind for {text:?}: {e}");
        assert_eq!(e.file, "test.dict");
        assert!(
            e.to_string()
                .starts_with(&format!("test.dict:{line}:{column}: error: "))
        );
    }
}

#[test]
fn a_bad_begin_vendor_line_still_opens_the_block() {
    for begin in [
        "BEGIN-VENDOR Acme extra words",
        "BEGIN-VENDOR Acme format=bogus",
    ] {
        let text =
            format!("VENDOR Acme 64512\n{begin}\nATTRIBUTE Acme-X 1 string\nEND-VENDOR Acme\n");
        let errors = load_err(&text);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].line, 2);
    }
}

#[test]
fn all_errors_of_a_file_are_reported() {
    let errors = load_err(
        "ATTRIBUTE Ok-1 230 string\n\
         ATTRIBUTE Bad-1 231 nosuchtype\n\
         # a comment\n\
         VALUE Bad-2 X 1\n\
         ATTRIBUTE Bad-3 232 string bogus\n\
         BEGIN-TLV x\n",
    );
    let lines: Vec<u32> = errors.iter().map(|e| e.line).collect();
    // The VALUE error is found when forward references are resolved, after the file.
    assert_eq!(lines, vec![2, 5, 6, 4]);
}

#[test]
fn example_vendor_dictionary_loads() {
    let text = include_str!("../../config/dictionaries/dictionary.example");
    let dict = load(text).unwrap();
    let role = dict.attr("Example-Role").unwrap();
    assert_eq!(
        role.id,
        AttrId::Vendor {
            vendor: 32473,
            typ: 1
        }
    );
    assert_eq!(dict.value_name(role, 2), Some("Admin"));
    assert_eq!(dict.value_number(role, "Administrator"), Some(2));
    assert_eq!(
        dict.attr("Example-Secret").unwrap().flags.encrypt,
        Encrypt::TunnelPassword
    );
    assert!(dict.attr("Example-DNS-Servers").unwrap().flags.array);
}

// ----- robustness ------------------------------------------------------------------------

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("ATTRIBUTE".to_owned()),
        Just("VALUE".to_owned()),
        Just("VENDOR".to_owned()),
        Just("BEGIN-VENDOR".to_owned()),
        Just("END-VENDOR".to_owned()),
        Just("$INCLUDE".to_owned()),
        Just("$INCLUDE-".to_owned()),
        Just("FLAGS".to_owned()),
        Just("BEGIN-TLV".to_owned()),
        Just("#".to_owned()),
        Just("Acme".to_owned()),
        Just("User-Name".to_owned()),
        Just("Service-Type".to_owned()),
        Just("X-1".to_owned()),
        Just("string".to_owned()),
        Just("integer".to_owned()),
        Just("octets[16]".to_owned()),
        Just("signed".to_owned()),
        Just("tlv".to_owned()),
        Just("evs".to_owned()),
        Just("has_tag,encrypt=2".to_owned()),
        Just("concat".to_owned()),
        Just("array".to_owned()),
        Just("internal".to_owned()),
        Just("format=2,1".to_owned()),
        Just("format=1,1,c".to_owned()),
        Just("format=Extended-Vendor-Specific-5".to_owned()),
        Just("26.64512.1".to_owned()),
        Just("241.26.64512.3".to_owned()),
        Just("241.9".to_owned()),
        Just("1.2.3".to_owned()),
        Just("-7".to_owned()),
        Just("0x".to_owned()),
        (0u64..70000).prop_map(|n| n.to_string()),
        (0u64..=u64::MAX).prop_map(|n| format!("0x{n:x}")),
        "[ -~]{0,8}",
        "\\PC{0,4}",
    ]
}

fn line() -> impl Strategy<Value = String> {
    prop::collection::vec(token(), 0..6).prop_map(|tokens| tokens.join(" "))
}

proptest! {
    #[test]
    fn loader_never_panics_on_dictionary_like_lines(lines in prop::collection::vec(line(), 0..24)) {
        let mut text = String::from("VENDOR Acme 64512\n");
        text.push_str(&lines.join("\n"));
        let mut dict = Dictionary::builtin().clone();
        match dict.load_text("prop.dict", &text, &mut NoSource) {
            Ok(()) => {
                for def in dict.attributes() {
                    prop_assert_eq!(dict.attr(&def.name).map(|d| d.id), Some(def.id));
                }
            }
            Err(errors) => {
                prop_assert!(!errors.is_empty());
                prop_assert_eq!(&dict, Dictionary::builtin());
                let line_count = u32::try_from(text.split('\n').count()).unwrap();
                for e in &errors {
                    prop_assert!(e.line >= 1 && e.line <= line_count, "{}", e);
                }
            }
        }
        boomerang_core::fuzzing::dictionary::parse_dictionary(text.as_bytes());
    }
}

#[test]
fn fuzz_seeds_run_clean() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/dictionary_file");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        boomerang_core::fuzzing::dictionary::parse_dictionary(&data);
        seen += 1;
    }
    assert!(seen >= 5, "seed files in {}", dir.display());
    // The valid seeds load without errors.
    for name in [
        "vendor_block.dict",
        "values.dict",
        "flags.dict",
        "formats.dict",
        "extended.dict",
    ] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        if let Err(errors) = load(&text) {
            panic!("{name}: {errors:#?}");
        }
    }
    let errors = load_err(&std::fs::read_to_string(dir.join("errors.dict")).unwrap());
    let lines: Vec<u32> = errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![1, 2, 3, 4, 5, 7, 8, 9, 10, 10, 6]);
}

#[test]
fn wba_vendor_attributes_are_built_in() {
    let dict = Dictionary::builtin();
    let idp = dict
        .attr("wba-identity-provider")
        .expect("WBA-Identity-Provider is built in");
    assert_eq!(
        idp.id,
        boomerang_core::radius::id::AttrId::Vendor {
            vendor: 14122,
            typ: 16
        }
    );
    assert_eq!(idp.name, "WBA-Identity-Provider");
    assert_eq!(
        dict.vendor_by_id(14122).map(|v| v.name.as_str()),
        Some("WISPr")
    );
}
