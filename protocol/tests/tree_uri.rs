//! Node URIs and queries (OMA-TS-DM_TND-V1_2 "URI"; FACTS.md C.7): property tests of the
//! normal form and navigation, and garbage input.

use omadm_protocol::tree::uri::{ListKind, NodeUri, Query, TargetUri, TndsSelection, UriError, UriLimits};
use proptest::prelude::*;

fn segment() -> impl Strategy<Value = String> {
    prop_oneof!["[A-Za-z0-9_-]{1,10}", "[a-z]{1,3}[ .:é]{1,2}[a-z]{1,3}", Just("x".to_owned())]
        .prop_filter("not a dot segment", |s| s != "." && s != "..")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_normalises_and_navigates(segments in prop::collection::vec(segment(), 0..12), dot in any::<bool>(), slash in any::<bool>()) {
        let joined = segments.join("/");
        let input = match (segments.is_empty(), dot) {
            (true, _) => ".".to_owned(),
            (false, true) => format!("./{joined}"),
            (false, false) => joined.clone(),
        };
        let input = if slash && !segments.is_empty() { format!("{input}/") } else { input };
        let uri = NodeUri::parse(&input).unwrap();
        prop_assert_eq!(uri.segments().collect::<Vec<_>>(), segments.iter().map(String::as_str).collect::<Vec<_>>());
        prop_assert_eq!(uri.depth(), segments.len());
        prop_assert_eq!(NodeUri::parse(uri.as_str()).unwrap(), uri.clone());
        // Joining the segments one by one from the root gives the same URI.
        let mut built = NodeUri::root();
        for s in &segments {
            built = built.join(s).unwrap();
        }
        prop_assert_eq!(&built, &uri);
        // Parent of a child is the node; ancestors end at the root.
        if let Some(parent) = uri.parent() {
            prop_assert_eq!(parent.join(uri.name().unwrap()).unwrap(), uri.clone());
            prop_assert!(uri.starts_with(&parent));
        }
        prop_assert_eq!(uri.ancestors().count(), segments.len() + 1);
        prop_assert_eq!(uri.ancestors().last().unwrap(), NodeUri::root());
        prop_assert_eq!(uri.relative_to(&NodeUri::root()).unwrap(), joined.as_str());
    }

    #[test]
    fn garbage_never_panics(s in "[./a-z?=+&\\- ]{0,40}") {
        if let Ok(uri) = NodeUri::parse(&s) {
            prop_assert_eq!(NodeUri::parse(uri.as_str()).unwrap(), uri.clone());
            prop_assert!(uri.depth() <= 32);
        }
        if let Ok(target) = TargetUri::parse(&s) {
            prop_assert_eq!(TargetUri::parse(&target.to_string()).unwrap(), target);
        }
    }

    #[test]
    fn arbitrary_text_never_panics(s in any::<String>(), limit in 0usize..40) {
        let limits = UriLimits { max_depth: limit, max_total_len: limit * 4, max_segment_len: limit };
        let _ = NodeUri::parse_with(&s, &limits);
        let _ = TargetUri::parse_with(&s, &limits);
        let _ = NodeUri::root().join(&s);
        let _ = NodeUri::root().join_path(&s);
    }
}

#[test]
fn limits_are_enforced() {
    let deep = format!(".{}", "/n".repeat(33));
    assert_eq!(NodeUri::parse(&deep), Err(UriError::TooDeep { limit: 32 }));
    let mut uri = NodeUri::root();
    for _ in 0..32 {
        uri = uri.join("n").unwrap();
    }
    assert_eq!(uri.join("n"), Err(UriError::TooDeep { limit: 32 }));
    let long = format!("./{}", "a".repeat(2000));
    assert!(matches!(NodeUri::parse(&long), Err(UriError::TooLong { .. })));
}

#[test]
fn targets_with_queries() {
    let t = TargetUri::parse("./DevInfo?list=TNDS+Value+ACL").unwrap();
    assert_eq!(t.uri.as_str(), "./DevInfo");
    assert!(
        matches!(t.query, Some(Query::List(ListKind::Tnds(TndsSelection::Include(ref f)))) if f.len() == 2)
    );
    assert_eq!(t.to_string(), "./DevInfo?list=TNDS+Value+ACL");
    assert!(matches!(TargetUri::parse("./A?prop=Colour"), Err(UriError::UnknownProperty(_))));
    assert!(matches!(TargetUri::parse("./A?foo"), Err(UriError::BadQuery(_))));
}
