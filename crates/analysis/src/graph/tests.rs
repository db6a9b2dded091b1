use super::*;
use crate::testkit::{seam, tf, Org};

fn seam_graph() -> (Graph, crate::testkit::Seam) {
    let mut org = Org::new(&["dev"]);
    let s = seam(&mut org, "dev");
    (Graph::build(&org.report), s)
}

fn names<'a>(nodes: impl IntoIterator<Item = &'a Node>) -> Vec<&'a str> {
    let mut v: Vec<&str> = nodes.into_iter().map(|n| n.name.as_str()).collect();
    v.sort();
    v
}

#[test]
fn text_rendering_of_the_seam() {
    let (g, _) = seam_graph();
    insta::assert_snapshot!(to_text(&g));
}

#[test]
fn dot_rendering_of_the_seam() {
    let (g, _) = seam_graph();
    insta::assert_snapshot!(to_dot(&g));
}

#[test]
fn mermaid_rendering_of_the_seam() {
    let (g, _) = seam_graph();
    insta::assert_snapshot!(to_mermaid(&g));
}

#[test]
fn who_consumes_a_parameter_and_what_to_redeploy_when_it_changes() {
    let (g, s) = seam_graph();
    assert_eq!(
        names(g.consumers(&s.db_pw_name)),
        ["users-dev", "users-dev-list"]
    );
    let r = g.redeploy_if_changed(&s.db_pw_name);
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(
        (r[0].name.as_str(), r[0].via.as_slice()),
        ("users-dev", ["/db_pw_name".to_owned()].as_slice())
    );
    // Changing the policy reaches the service through the parameter that exports it.
    let r = g.redeploy_if_changed(&s.policy);
    assert_eq!(
        r.iter()
            .map(|r| (r.name.as_str(), r.via.clone()))
            .collect::<Vec<_>>(),
        [("users-dev", vec!["/db_pw_policy".to_owned()])]
    );
    assert!(g.redeploy_if_changed("no-such-node").is_empty());
}

#[test]
fn neighbours_focus_and_stage_narrow_the_graph() {
    let mut org = Org::new(&["dev", "qa"]);
    let s = seam(&mut org, "dev");
    seam(&mut org, "qa");
    let g = Graph::build(&org.report);
    assert_eq!(
        names(g.neighbours(&s.secret)),
        ["/db_pw_name"],
        "the secret is only named by its parameter"
    );
    let one = g.focus(&s.db_pw_name, 1);
    assert_eq!(
        names(one.nodes()),
        [
            "/db_pw_name",
            "database_password",
            "dev (s3://state/env:/dev/core.tfstate)",
            "users-dev",
            "users-dev-list"
        ]
    );
    assert!(g.focus(&s.db_pw_name, 2).node_count() > one.node_count());
    let dev = g.stage("dev");
    assert!(dev.nodes().all(|n| n.stage.as_deref() == Some("dev")));
    assert_eq!(dev.node_count() * 2, g.node_count());
    assert_eq!(dev.link_count() * 2, g.link_count());
}

#[test]
fn the_topological_order_puts_prerequisites_first() {
    let (g, s) = seam_graph();
    let order = g.topological_order().expect("the seam has no cycle");
    let pos = |id: &str| order.iter().position(|x| x == id).expect(id);
    let ws = crate::link::terraform_node("s3://state/env:/dev/core.tfstate");
    // Terraform writes the parameter, the parameter is read by the stack.
    assert!(pos(&ws) < pos(&s.db_pw_name));
    assert!(pos(&s.db_pw_name) < pos(&s.stack));
    // The policy exists before the parameter holding its ARN, and before the role attaching it.
    assert!(pos(&s.policy) < pos(&s.db_pw_policy));
    assert!(pos(&s.policy) < pos(&s.role));
    // The function exists before the method that integrates it.
    assert!(pos(&s.function) < pos(&s.method));
    assert_eq!(order.len(), g.node_count());
    assert!(g.cycles().is_empty());
    // The same graph gives the same order.
    assert_eq!(seam_graph().0.topological_order().unwrap(), order);
}

#[test]
fn a_cycle_is_reported_instead_of_an_order() {
    let mut org = Org::new(&["dev"]);
    // Stack `s` reads /a and writes /b, while /a holds /b's name: /a before s, s before /b, /b
    // before /a.
    let a = org.param("dev", "/a", "x-value-a", tf("dev", "aws_ssm_parameter.a"));
    let b = org.param("dev", "/b", "x-value-b", tf("dev", "aws_ssm_parameter.b"));
    let node = |id: &str| Node {
        id: id.into(),
        type_name: crate::model::types::ssm::TYPE.into(),
        name: id.into(),
        account_id: None,
        stage: Some("dev".into()),
        owner: "terraform".into(),
        cluster: None,
    };
    let link = |from: &str, to: &str, kind| Link {
        from: from.into(),
        to: to.into(),
        kind,
        evidence: String::new(),
    };
    let g = Graph::from_parts(
        vec![node(&a), node(&b), node("s")],
        vec![
            link(&a, "s", LinkKind::SsmRead),
            link("s", &b, LinkKind::SsmWrite),
            link(&a, &b, LinkKind::Names),
        ],
    );
    let cycles = g.cycles();
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    let mut expected = vec![a.clone(), b.clone(), "s".to_owned()];
    expected.sort();
    assert_eq!(cycles[0], expected);
    assert_eq!(g.topological_order(), Err(expected));
}

#[test]
fn the_json_form_lists_nodes_and_links_by_id() {
    let (g, s) = seam_graph();
    let v = serde_json::to_value(g.data()).unwrap();
    let links = v["links"].as_array().unwrap();
    assert!(links.iter().any(|l| l["from"] == s.db_pw_name.as_str()
        && l["to"] == s.stack.as_str()
        && l["kind"] == "ssm-read"
        && l["evidence"]
            .as_str()
            .unwrap()
            .contains("${ssm:/db_pw_name}")));
    let node = v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == s.policy.as_str())
        .unwrap();
    assert_eq!(node["owner"], "terraform");
    assert_eq!(node["type"], "AWS::IAM::ManagedPolicy");
    assert_eq!(node["cluster"], "workspace dev");
}

#[test]
fn the_window_gets_a_stage_a_neighbourhood_or_everything_and_finds_across_stages() {
    let mut org = Org::new(&["dev", "qa"]);
    let s = seam(&mut org, "dev");
    let q = seam(&mut org, "qa");
    let g = Graph::build(&org.report);
    let whole = g
        .part(&Scope::Stage {
            stage: String::new(),
        })
        .unwrap();
    assert_eq!(whole, g.data());
    let qa = g.part(&Scope::Stage { stage: "qa".into() }).unwrap();
    assert!(!qa.nodes.is_empty());
    assert!(qa.nodes.iter().all(|n| n.stage.as_deref() == Some("qa")));
    let ids: std::collections::HashSet<&str> = qa.nodes.iter().map(|n| &*n.id).collect();
    assert!(qa
        .links
        .iter()
        .all(|l| ids.contains(l.from.as_str()) && ids.contains(l.to.as_str())));
    assert_eq!(qa.links.len() * 2, g.link_count());

    // Two starting points in two stages, one step out; an unknown id is passed over.
    let around = g
        .part(&Scope::Around {
            ids: vec![s.secret.clone(), q.secret.clone(), "no-such-node".into()],
            depth: 1,
        })
        .unwrap();
    assert_eq!(
        names(&around.nodes),
        [
            "/db_pw_name",
            "/db_pw_name",
            "database_password",
            "database_password"
        ]
    );
    assert_eq!(around.links.len(), 2);
    assert_eq!(
        g.part(&Scope::Around {
            ids: vec![s.db_pw_name.clone()],
            depth: 1
        })
        .unwrap(),
        g.focus(&s.db_pw_name, 1).data()
    );

    // One account: its nodes, and those one link from them, whatever their account.
    let account = g
        .node(&q.secret)
        .and_then(|n| n.account_id.as_deref().map(str::to_owned))
        .expect("account");
    let one = g
        .part(&Scope::Account {
            account: account.clone(),
        })
        .unwrap();
    let mine: std::collections::HashSet<&str> = one
        .nodes
        .iter()
        .filter(|n| n.account_id.as_deref() == Some(account.as_str()))
        .map(|n| &*n.id)
        .collect();
    assert_eq!(mine.len() as u32, g.account_sizes()[&account]);
    assert!(mine.contains(q.secret.as_str()) && !mine.contains(s.secret.as_str()));
    for n in &one.nodes {
        assert!(
            mine.contains(&*n.id)
                || one
                    .links
                    .iter()
                    .any(|l| (*l.from == *n.id && mine.contains(l.to.as_str()))
                        || (*l.to == *n.id && mine.contains(l.from.as_str()))),
            "{} is neither in {account} nor linked to it",
            n.id
        );
    }
    let every_link_of_mine = g
        .links()
        .filter(|l| mine.contains(l.from) || mine.contains(l.to))
        .count();
    assert!(one.links.len() >= every_link_of_mine);
    assert_eq!(
        g.account_sizes().values().sum::<u32>() as usize,
        g.nodes().filter(|n| n.account_id.is_some()).count()
    );

    let sizes = g.stage_sizes();
    assert_eq!(sizes.values().sum::<u32>() as usize, g.node_count());
    assert_eq!(sizes.get("qa").copied(), Some(qa.nodes.len() as u32));

    // Search: name or id, any case, the asked stage first, at most `limit`.
    let found = g.find("DB_PW_NAME", Some("qa"), 10);
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[0].stage.as_deref(), Some("qa"));
    assert_eq!(
        g.find("db_pw_name", Some("dev"), 10)[0].stage.as_deref(),
        Some("dev")
    );
    assert_eq!(g.find("db_pw", None, 1).len(), 1);
    assert!(g.find("  ", None, 10).is_empty());
    assert!(g.find("nothing-is-called-this", None, 10).is_empty());
}

#[test]
fn a_part_larger_than_a_window_draws_is_refused_before_it_is_built() {
    // Two accounts in one stage: one of PART_AT_MOST nodes, one of a single node. The stage is one
    // node too many; each account alone is within the limit.
    let node = |i: usize, account: &str| Node {
        id: format!("arn:aws:ssm:eu-west-1:{account}:parameter/p{i}").into(),
        type_name: "AWS::SSM::Parameter".into(),
        name: format!("/p{i}"),
        account_id: Some(account.into()),
        stage: Some("prod".into()),
        owner: "unmanaged".into(),
        cluster: None,
    };
    let mut nodes: Vec<Node> = (0..PART_AT_MOST).map(|i| node(i, "111111111111")).collect();
    nodes.push(node(0, "222222222222"));
    let g = Graph::from_parts(nodes, Vec::new());
    let stage = Scope::Stage {
        stage: "prod".into(),
    };
    let err = g.part(&stage).unwrap_err();
    assert_eq!(err.nodes, PART_AT_MOST + 1);
    assert!(
        err.to_string().contains("25001 resources are too many")
            && err.to_string().contains("pick a stage or an account"),
        "{err}"
    );
    let whole = Scope::Stage {
        stage: String::new(),
    };
    assert_eq!(g.part(&whole).unwrap_err().nodes, PART_AT_MOST + 1);
    let big = g
        .part(&Scope::Account {
            account: "111111111111".into(),
        })
        .unwrap();
    assert_eq!(big.nodes.len(), PART_AT_MOST);
    let small = g
        .part(&Scope::Account {
            account: "222222222222".into(),
        })
        .unwrap();
    assert_eq!(small.nodes.len(), 1);
}
