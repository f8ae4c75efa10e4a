//! Attacks and abuse against a real node: each refused with its code, counted, and nothing
//! else disturbed.

use std::time::Duration;

use tocsin::config::TrustPolicy;
use tocsin::message::*;
use tocsin::rpc::{ClientError, PublishOutcome};

use crate::support::*;

fn refused(r: Result<PublishOutcome, ClientError>) -> Reason {
    match r {
        Err(ClientError::Refused(r)) => r.reason,
        Ok(PublishOutcome::Refused(r)) => r.reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn accepted(r: Result<PublishOutcome, ClientError>) {
    assert!(matches!(r, Ok(PublishOutcome::Accepted { .. })), "{r:?}");
}

fn roster(federation: &SecretKey, members: &[&SecretKey]) -> Message {
    let mut b = body(
        federation,
        Content::Roster(Roster {
            members: members
                .iter()
                .enumerate()
                .map(|(i, k)| RosterMember {
                    key: k.public(),
                    name: format!("Affiliate {i} of the Global Federation of Transport Workers"),
                    country: "BR".into(),
                })
                .collect(),
        }),
    );
    // Each roster newer than the last: latest wins.
    b.created_at = Timestamp::now();
    sign(b, federation)
}

#[tokio::test]
async fn roster_mode_admits_the_allow_list_and_roster_members_only() {
    let (fed, member, stranger, friend) = (org(80), org(81), org(82), org(83));
    let node = TestNode::start_with(|c| {
        c.trust.policy = TrustPolicy::Roster;
        c.trust.allow = vec![friend.public().to_hex()];
        c.trust.federations = vec![fed.public().to_hex()];
    })
    .await;
    let mut c = node.client().await;
    // No roster yet: fail closed, only the allow list gets in.
    assert_eq!(
        refused(
            c.publish(sign(alert(&member, "Too early"), &member).signed())
                .await
        ),
        Reason::NotAdmitted
    );
    accepted(
        c.publish(sign(alert(&friend, "Allowed"), &friend).signed())
            .await,
    );
    // The federation publishes its roster; its member is admitted, a stranger is not.
    accepted(c.publish(roster(&fed, &[&member]).signed()).await);
    accepted(
        c.publish(sign(alert(&member, "Member alert"), &member).signed())
            .await,
    );
    assert_eq!(
        refused(
            c.publish(sign(alert(&stranger, "Unknown"), &stranger).signed())
                .await
        ),
        Reason::NotAdmitted
    );
    // A roster update that drops the member stops admitting it.
    tokio::time::sleep(Duration::from_millis(5)).await;
    accepted(c.publish(roster(&fed, &[&stranger]).signed()).await);
    assert_eq!(
        refused(
            c.publish(sign(alert(&member, "Dropped"), &member).signed())
                .await
        ),
        Reason::NotAdmitted
    );
    accepted(
        c.publish(sign(alert(&stranger, "Now a member"), &stranger).signed())
            .await,
    );
    // A revocation is admitted from anyone: it only takes power away.
    let rev = body(
        &member,
        Content::Revocation(Revocation {
            revoked_from: Timestamp::now(),
            successor: None,
            reason: "lost".into(),
        }),
    );
    accepted(c.publish(sign(rev, &member).signed()).await);
    assert_eq!(
        node.server()
            .node()
            .metrics()
            .refused_count(Reason::NotAdmitted),
        3
    );
}

#[tokio::test]
async fn the_deny_list_is_refused_in_open_mode() {
    let (bad, good) = (org(84), org(85));
    let node = TestNode::start_with(|c| c.trust.deny = vec![bad.public().to_hex()]).await;
    let mut c = node.client().await;
    assert_eq!(
        refused(c.publish(sign(alert(&bad, "Spam"), &bad).signed()).await),
        Reason::DeniedAuthor
    );
    accepted(c.publish(sign(alert(&good, "Real"), &good).signed()).await);
    assert_eq!(
        node.server()
            .node()
            .metrics()
            .refused_count(Reason::DeniedAuthor),
        1
    );
}

#[tokio::test]
async fn a_bad_trust_list_is_refused_at_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = tocsin::config::Config::default();
    config.node.data_dir = dir.path().join("data");
    config.node.listen = "127.0.0.1:0".parse().unwrap();
    config.trust.deny = vec!["not-a-key".into()];
    let err = tocsin::server::Server::start(config).await.unwrap_err();
    assert!(format!("{err:#}").contains("trust.deny"), "{err:#}");
}
