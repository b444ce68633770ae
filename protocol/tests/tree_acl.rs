//! ACL grammar and inheritance (OMA-TS-DM_TND-V1_2 "ACL"; FACTS.md C.7): property tests of
//! parse/display, an independent reference parser, garbage input, and inheritance against a
//! naive model.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use omadm_protocol::tree::acl::{self, Acl, AclCommand, AclError, NodeKind, Principal, ServerId};
use omadm_protocol::tree::{NodeUri, Op, TargetUri};
use proptest::prelude::*;

const COMMANDS: [&str; 5] = ["Add", "Delete", "Exec", "Get", "Replace"];

/// A server id: printable, without `= & * +` and whitespace; sometimes non-ASCII.
fn server_id() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9._:/@-]{1,12}",
        "[a-z]{1,4}[é中ü]{1,2}",
        Just("com.mgmtsrv.manage".to_owned()),
        Just("srvA".to_owned()),
    ]
}

fn principal() -> impl Strategy<Value = String> {
    prop_oneof![1 => Just("*".to_owned()), 4 => server_id()]
}

fn command() -> impl Strategy<Value = AclCommand> {
    prop::sample::select(AclCommand::ALL.to_vec())
}

/// An ACL built through the API.
fn acl() -> impl Strategy<Value = Acl> {
    prop::collection::vec((command(), prop::collection::vec(principal(), 1..4)), 0..6).prop_map(|entries| {
        let mut acl = Acl::new();
        for (command, ids) in entries {
            for id in ids {
                acl.grant(command, Principal::parse(&id).unwrap());
            }
        }
        acl
    })
}

/// A valid ACL string in any order, with repeated commands, ids and command-name case.
fn acl_string() -> impl Strategy<Value = String> {
    prop::collection::vec((0..5usize, any::<bool>(), prop::collection::vec(principal(), 1..4)), 0..7)
        .prop_map(|entries| {
            entries
                .into_iter()
                .map(|(c, lower, ids)| {
                    let name = if lower { COMMANDS[c].to_ascii_lowercase() } else { COMMANDS[c].to_owned() };
                    format!("{name}={}", ids.join("+"))
                })
                .collect::<Vec<_>>()
                .join("&")
        })
}

/// An independent reading of the grammar: command -> set of ids, canonical output.
fn reference(s: &str) -> Option<String> {
    let s = s.trim();
    let mut map: BTreeMap<usize, BTreeSet<(bool, String)>> = BTreeMap::new();
    if !s.is_empty() {
        for entry in s.split('&') {
            let (c, ids) = entry.split_once('=')?;
            let c = COMMANDS.iter().position(|n| n.eq_ignore_ascii_case(c))?;
            for id in ids.split('+') {
                let ok = id == "*"
                    || (!id.is_empty()
                        && id
                            .chars()
                            .all(|ch| !(ch.is_whitespace() || ch.is_control() || "=&*+".contains(ch))));
                if !ok {
                    return None;
                }
                // `*` sorts first.
                map.entry(c).or_default().insert((id != "*", id.to_owned()));
            }
        }
    }
    Some(
        map.into_iter()
            .map(|(c, ids)| {
                let ids: Vec<String> = ids.into_iter().map(|(_, id)| id).collect();
                format!("{}={}", COMMANDS[c], ids.join("+"))
            })
            .collect::<Vec<_>>()
            .join("&"),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_display_round_trip(acl in acl()) {
        let text = acl.to_string();
        prop_assert_eq!(Acl::parse(&text).unwrap(), acl);
    }

    #[test]
    fn display_is_canonical(s in acl_string()) {
        let parsed = Acl::parse(&s).unwrap();
        let canonical = parsed.to_string();
        prop_assert_eq!(Some(canonical.clone()), reference(&s));
        // Canonical text is a fixed point.
        prop_assert_eq!(Acl::parse(&canonical).unwrap().to_string(), canonical);
    }

    #[test]
    fn allows_matches_the_entries(acl in acl(), id in server_id(), c in command()) {
        let expected = acl.principals(c).any(|p| *p == Principal::Any || p.to_string() == id);
        prop_assert_eq!(acl.allows(c, &id), expected);
    }

    #[test]
    fn garbage_never_panics(s in "[A-Za-z=&*+ \t\r\n中é.-]{0,40}") {
        match Acl::parse(&s) {
            Ok(acl) => {
                prop_assert_eq!(Some(acl.to_string()), reference(&s));
                prop_assert_eq!(Acl::parse(&acl.to_string()).unwrap(), acl);
            }
            Err(_) => prop_assert_eq!(reference(&s), None),
        }
    }

    #[test]
    fn arbitrary_text_never_panics(s in any::<String>()) {
        let _ = Acl::parse(&s);
        let _ = ServerId::new(&s);
    }

    /// Inheritance against a naive model: walk up, first non-empty ACL, else the default.
    #[test]
    fn inheritance_is_nearest_ancestor(
        depth in 0usize..6,
        acls in prop::collection::vec(prop::option::of(acl()), 7),
    ) {
        let segments = ["a", "b", "c", "d", "e", "f"];
        let mut uris = vec![NodeUri::root()];
        for s in &segments[..depth] {
            let next = uris.last().unwrap().join(s).unwrap();
            uris.push(next);
        }
        let stored: HashMap<String, Acl> = uris
            .iter()
            .zip(&acls)
            .filter_map(|(u, a)| a.clone().map(|a| (u.to_string(), a)))
            .collect();
        let target = uris.last().unwrap();
        let got = acl::effective_acl(target, |u: &str| stored.get(u).cloned());
        let naive = uris
            .iter()
            .rev()
            .find_map(|u| stored.get(u.as_str()).filter(|a| !a.is_empty()).map(|a| (a.clone(), u.clone())));
        match naive {
            Some((a, from)) => {
                prop_assert_eq!(got.acl, a);
                prop_assert_eq!(got.source, Some(from));
            }
            None => {
                prop_assert_eq!(got.acl.to_string(), "Add=*&Get=*");
                prop_assert_eq!(got.source, None);
            }
        }
    }
}

#[test]
fn grammar_errors_are_typed() {
    assert_eq!(Acl::parse("Get=*&&Add=*"), Err(AclError::EmptyEntry { index: 1 }));
    assert!(matches!(Acl::parse("Copy=*"), Err(AclError::UnknownCommand(c)) if c == "Copy"));
    assert!(matches!(Acl::parse("Get=srv A"), Err(AclError::BadIdChar { c: ' ', .. })));
    assert_eq!(Acl::parse("Get=+a"), Err(AclError::EmptyId));
}

#[test]
fn queued_command_decisions() {
    // The account of server "srv": Get, Replace and Delete granted by bootstrap (FACTS.md H.2).
    let srv = ServerId::new("srv").unwrap();
    let mut acls: HashMap<String, Acl> = HashMap::new();
    acls.insert(".".into(), Acl::parse("Add=*&Get=*").unwrap());
    acls.insert("./DMAcc/srv".into(), Acl::bootstrap(&srv));
    acls.insert("./DevInfo".into(), Acl::parse("Get=*").unwrap());
    let lookup = |u: &str| acls.get(u).cloned();
    let t = |s: &str| TargetUri::parse(s).unwrap();
    let allowed = |op, target: &str, kind| acl::check(op, &t(target), kind, "srv", lookup).is_ok();

    assert!(allowed(Op::Get, "./DevInfo/Man", NodeKind::Leaf));
    assert!(!allowed(Op::Replace, "./DevInfo/Man", NodeKind::Leaf));
    assert!(allowed(Op::Replace, "./DMAcc/srv/AppAddr/1/Addr", NodeKind::Leaf));
    assert!(allowed(Op::Delete, "./DMAcc/srv", NodeKind::Interior));
    // Add below the account needs Add on it: not granted by bootstrap.
    assert!(!allowed(Op::Add, "./DMAcc/srv/Ext", NodeKind::Interior));
    // Another server's view.
    assert!(acl::check(Op::Get, &t("./DMAcc/srv/Name"), NodeKind::Leaf, "other", lookup).is_err());
    // ACL of the account (interior): its own Replace right suffices.
    assert!(allowed(Op::Replace, "./DMAcc/srv?prop=ACL", NodeKind::Interior));
    // ACL of a leaf below: Replace on the parent, inherited from ./DMAcc/srv.
    assert!(allowed(Op::Replace, "./DMAcc/srv/Name?prop=ACL", NodeKind::Leaf));
    // ACL of ./DMAcc: Replace on ./DMAcc (root default, no) or on the root (no).
    let denied =
        acl::check(Op::Replace, &t("./DMAcc?prop=ACL"), NodeKind::Interior, "srv", lookup).unwrap_err();
    assert_eq!(denied.needed.uri.as_str(), "./DMAcc");
    assert_eq!(denied.needed.command, AclCommand::Replace);
    assert!(denied.to_string().contains("Replace on ./DMAcc"), "{denied}");
}
