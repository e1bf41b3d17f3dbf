//! Rate budgets in Redis: posts per account and per platform (this app's quota) in a fixed
//! window. A publish over either budget waits for the next window without calling the
//! platform, and a publish the app budget refuses does not use up the account's budget.

use smartflow::modules::social::publish::budget;
use uuid::Uuid;

use super::{Social, due_post, publish_job, received, setup_with, target_state, tweet_created};

async fn count(s: &Social, key: &str) -> u64 {
    s.app.state.cache.get(key).await.unwrap().map_or(0, |v| v.parse().unwrap())
}

#[tokio::test]
async fn the_account_budget_holds_posts_back_until_the_next_window() {
    let s = setup_with(|st| {
        st.social.budgets.account_max_posts = 2;
        st.social.budgets.window_secs = 600;
    })
    .await;
    let x = super::x_account(&s, "t").await;
    super::mount_tweet(&s.fake, tweet_created("1")).await;
    let mut targets = Vec::new();
    for i in 0..3 {
        targets.push(due_post(&s, x, &format!("Post {i}")).await.1);
    }
    s.app.run_jobs().await;
    let mut states = Vec::new();
    for t in &targets {
        states.push(target_state(&s.app, t).await);
    }
    states.sort();
    assert_eq!(states, ["confirmed", "confirmed", "scheduled"]);
    assert_eq!(received(&s.fake, "POST", "/2/tweets").await.len(), 2);
    for t in &targets {
        if target_state(&s.app, t).await == "scheduled" {
            let (state, wait) = publish_job(&s.app, t).await;
            assert_eq!(state, "scheduled");
            assert!(wait > 500.0, "waits for the window to reset: {wait}");
        }
    }
    assert_eq!(count(&s, &budget::account_key(x)).await, 2, "the refused post counts nowhere");
}

#[tokio::test]
async fn a_publish_the_app_budget_refuses_keeps_the_accounts_allowance() {
    let s = setup_with(|st| {
        st.social.budgets.account_max_posts = 5;
        st.social.budgets.app_max_posts = 1;
    })
    .await;
    let platform = "x";
    let account = Uuid::new_v4();
    assert_eq!(budget::take(&s.app.state, account, platform).await, None);
    assert_eq!(count(&s, &budget::account_key(account)).await, 1);
    assert_eq!(count(&s, &budget::app_key(platform)).await, 1);

    let other = Uuid::new_v4();
    let wait = budget::take(&s.app.state, other, platform).await;
    assert!(wait.is_some_and(|w| w.as_secs() > 800), "the app's window: {wait:?}");
    assert_eq!(count(&s, &budget::account_key(other)).await, 0, "given back");
    assert_eq!(count(&s, &budget::app_key(platform)).await, 1, "the refusal is not counted");
    // The first account's own budget is untouched by the other's refusal.
    assert_eq!(count(&s, &budget::account_key(account)).await, 1);
}
