//! Exactly once under failure: two worker instances racing for the same due target, and a
//! worker killed while its request is out.

use std::time::Duration as StdDuration;

use chrono::Utc;
use serde_json::{Value, json};
use smartflow::platform::{
    self,
    jobs::{self, NewJob, Runner},
};
use tokio::sync::mpsc;
use wiremock::{
    Mock, Request, Respond, ResponseTemplate,
    matchers::{method, path},
};

use super::{Social, due_post, received, setup, target_state, x_account};

/// Answers `POST /2/tweets` like X (after `delay`) and reports each call on a channel.
struct Signalling {
    tx: mpsc::UnboundedSender<()>,
    delay: StdDuration,
}

impl Respond for Signalling {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let _ = self.tx.send(());
        ResponseTemplate::new(201)
            .set_body_json(
                json!({ "data": { "id": "1880028106020515840", "text": "Exactly once" } }),
            )
            .set_delay(self.delay)
    }
}

async fn signalling(s: &Social, delay: StdDuration) -> mpsc::UnboundedReceiver<()> {
    let (tx, rx) = mpsc::unbounded_channel();
    Mock::given(method("POST"))
        .and(path("/2/tweets"))
        .respond_with(Signalling { tx, delay })
        .mount(&s.fake)
        .await;
    rx
}

async fn next(rx: &mut mpsc::UnboundedReceiver<()>) {
    tokio::time::timeout(StdDuration::from_secs(30), rx.recv())
        .await
        .expect("the platform was called")
        .expect("open");
}

async fn attempts(s: &Social, target: &str) -> Vec<(String, String)> {
    sqlx::query_as("select kind, outcome from smartflow_social.publish_attempts where target_id = $1::uuid order by id")
        .bind(target)
        .fetch_all(&s.app.db)
        .await
        .unwrap()
}

/// Every publish job due now, then run them all (what later ticks would do).
async fn drain(s: &Social) {
    sqlx::query("update smartflow_shared.jobs set run_at = now() where kind = 'social.publish' and state = 'scheduled'")
        .execute(&s.app.db)
        .await
        .unwrap();
    s.app.run_jobs().await;
}

#[tokio::test]
async fn a_due_post_is_published_once_with_two_workers_racing() {
    let s = setup().await;
    let x = x_account(&s, "t").await;
    let mut calls = signalling(&s, StdDuration::from_millis(200)).await;
    let (_, target) = due_post(&s, x, "Exactly once").await;
    // Replays of the same target's job (an operator's retry, a re-queue): the unique key keeps
    // one active job per target; these bypass it to make both workers reach the row at once.
    let mut extra = Vec::new();
    for _ in 0..12 {
        let mut job = NewJob::of(&smartflow::modules::social::publish::PublishTarget {
            target_id: target.parse().unwrap(),
        })
        .unwrap();
        job.unique_key = None;
        extra.push(job);
    }
    let mut conn = s.app.db.acquire().await.unwrap();
    assert_eq!(jobs::insert_many(&mut conn, &extra).await.unwrap(), 12);
    drop(conn);

    let registry = platform::job_registry();
    let a = Runner::start(s.app.state.clone(), registry.clone());
    let b = Runner::start(s.app.state.clone(), registry);
    next(&mut calls).await;
    // Let whatever each worker holds finish, then run any job still waiting.
    a.shutdown().await;
    b.shutdown().await;
    drain(&s).await;
    assert_eq!(received(&s.fake, "POST", "/2/tweets").await.len(), 1, "published exactly once");
    assert!(calls.try_recv().is_err());
    assert_eq!(target_state(&s.app, &target).await, "confirmed");
    assert_eq!(attempts(&s, &target).await, [("publish".to_string(), "confirmed".to_string())]);
    let left: i64 = sqlx::query_scalar(
        "select count(*) from smartflow_shared.jobs where kind = 'social.publish' and state in ('scheduled', 'available', 'running')",
    )
    .fetch_one(&s.app.db)
    .await
    .unwrap();
    assert_eq!(left, 0);
}

/// The worker dies after sending: the job is rescued, and the next run finds the post.
#[tokio::test]
async fn a_worker_killed_mid_publish_is_reconciled_not_reposted() {
    let s = setup().await;
    let x = x_account(&s, "t").await;
    // X creates the post at once; its answer takes long enough for the worker to die first.
    let mut calls = signalling(&s, StdDuration::from_secs(60)).await;
    let (id, target) = due_post(&s, x, "Exactly once").await;
    let crashed = Runner::start(s.app.state.clone(), platform::job_registry());
    next(&mut calls).await;
    assert_eq!(target_state(&s.app, &target).await, "sent");
    drop(crashed);

    // Time passes: no heartbeat for a while, the request long since lost.
    sqlx::query("update smartflow_shared.jobs set heartbeat_at = now() - interval '1 hour' where kind = 'social.publish'")
        .execute(&s.app.db)
        .await
        .unwrap();
    assert_eq!(jobs::rescue(&s.app.db, StdDuration::from_secs(60)).await.unwrap(), 1);
    // Too early to call the request lost: the next run waits instead of guessing.
    s.app.run_jobs().await;
    assert_eq!(target_state(&s.app, &target).await, "sent");
    sqlx::query("update smartflow_social.publish_attempts set started_at = now() - interval '10 minutes' where target_id = $1::uuid")
        .bind(&target)
        .execute(&s.app.db)
        .await
        .unwrap();
    Mock::given(method("GET"))
        .and(path("/2/users/2244994945/tweets"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": [
            { "id": "1880028106020515840", "text": "Exactly once", "created_at": (Utc::now() - chrono::Duration::minutes(10)).to_rfc3339() }
        ] })))
        .mount(&s.fake)
        .await;
    drain(&s).await;
    assert_eq!(received(&s.fake, "POST", "/2/tweets").await.len(), 1, "reconciled, not re-posted");
    let post: Value =
        s.app.get_as(&format!("/api/posts/{id}"), &s.owner.token).await.json().await.unwrap();
    assert_eq!(post["targets"][0]["state"], "confirmed");
    assert_eq!(post["targets"][0]["remote_id"], "1880028106020515840");
    assert_eq!(
        attempts(&s, &target).await,
        [
            ("publish".to_string(), "unknown".to_string()),
            ("reconcile".to_string(), "reconciled".to_string())
        ]
    );
}

/// The worker dies before the request reached X: nothing is found, so it is sent (once).
#[tokio::test]
async fn a_worker_killed_before_the_platform_saw_the_request_publishes_it_later() {
    let s = setup().await;
    let x = x_account(&s, "t").await;
    let (_, target) = due_post(&s, x, "Second chance").await;
    // As left by a worker that recorded its attempt and died before sending.
    sqlx::query("update smartflow_social.post_targets set state = 'sent', claim_token = gen_random_uuid(), attempts = 1 where id = $1::uuid")
        .bind(&target)
        .execute(&s.app.db)
        .await
        .unwrap();
    sqlx::query(
        "insert into smartflow_social.publish_attempts (target_id, workspace_id, attempt, request_id, started_at) \
         select id, workspace_id, 1, gen_random_uuid(), now() - interval '10 minutes' from smartflow_social.post_targets where id = $1::uuid",
    )
    .bind(&target)
    .execute(&s.app.db)
    .await
    .unwrap();
    Mock::given(method("GET"))
        .and(path("/2/users/2244994945/tweets"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "meta": { "result_count": 0 } })),
        )
        .mount(&s.fake)
        .await;
    super::mount_tweet(&s.fake, super::tweet_created("7")).await;
    s.app.run_jobs().await;
    assert_eq!(target_state(&s.app, &target).await, "confirmed");
    assert_eq!(received(&s.fake, "POST", "/2/tweets").await.len(), 1);
    let kinds: Vec<String> =
        attempts(&s, &target).await.into_iter().map(|(k, o)| format!("{k}:{o}")).collect();
    assert_eq!(kinds, ["publish:unknown", "reconcile:not_found", "publish:confirmed"]);
}
