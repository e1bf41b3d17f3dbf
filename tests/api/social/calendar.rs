//! The calendar (`GET /api/calendar`, seed) groups posts by local day across a DST change;
//! the calendar, accounts and analytics pages render and reschedule.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use serde_json::{Value, json};

use super::{
    create_post,
    posts::{paris, spring_forward},
    setup, x_account,
};
use crate::helpers::assert_problem;

fn at(date: NaiveDate, h: u32, m: u32) -> DateTime<Utc> {
    Utc.from_utc_datetime(&date.and_hms_opt(h, m, 0).unwrap())
}

#[tokio::test]
async fn the_calendar_groups_posts_by_local_day_across_a_dst_change() {
    let s = setup().await;
    paris(&s).await;
    let x = x_account(&s, "t").await;
    let day = spring_forward();
    let before = day - Duration::days(1);
    // 00:30 on the day in Paris is still 23:30 UTC the evening before (UTC+1 until 02:00);
    // 23:30 that evening is 21:30 UTC (UTC+2 by then).
    create_post(&s, json!({ "content": "Just after midnight", "targets": [x], "scheduled_at": format!("{day}T00:30") })).await;
    create_post(
        &s,
        json!({ "content": "Late", "targets": [x], "scheduled_at": format!("{day}T23:30") }),
    )
    .await;
    create_post(&s, json!({ "content": "The day before", "targets": [x], "scheduled_at": at(before, 12, 0).to_rfc3339() })).await;
    create_post(&s, json!({ "content": "A draft", "targets": [x] })).await;

    let q = format!("/api/calendar?from={before}&to={day}&tz=Europe/Paris");
    let cal: Value = s.app.get_as(&q, &s.owner.token).await.json().await.unwrap();
    assert_eq!(cal["tz"], "Europe/Paris");
    let days = cal["days"].as_array().unwrap();
    assert_eq!(days.len(), 2);
    assert_eq!(days[0]["date"], before.to_string());
    let times = |d: &Value| -> Vec<String> {
        d["posts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["local_time"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(times(&days[0]), ["13:00"]);
    assert_eq!(times(&days[1]), ["00:30", "23:30"]);
    let first = &days[1]["posts"][0];
    assert_eq!(
        first["scheduled_at"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap(),
        at(before, 23, 30)
    );
    assert_eq!(first["targets"][0]["state"], "scheduled");
    assert_eq!(first["targets"][0]["platform"], "x");

    // In UTC the same posts fall on other days.
    let q = format!("/api/calendar?from={before}&to={day}&tz=UTC");
    let cal: Value = s.app.get_as(&q, &s.owner.token).await.json().await.unwrap();
    assert_eq!(times(&cal["days"][0]), ["12:00", "23:30"]);
    assert_eq!(times(&cal["days"][1]), ["21:30"]);

    // Another workspace sees nothing; bad ranges name their field.
    let stranger = s.app.signup("stranger@example.com").await;
    let cal: Value = s
        .app
        .get_as(&format!("/api/calendar?from={before}&to={day}"), &stranger.token)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        cal["days"].as_array().unwrap().iter().all(|d| d["posts"].as_array().unwrap().is_empty())
    );
    let res = s.app.get_as(&format!("/api/calendar?from={day}&to={before}"), &s.owner.token).await;
    assert_eq!(assert_problem(res, 422).await["errors"][0]["field"], "to");
    let res = s.app.get_as("/api/calendar?from=2027-01-01&to=2027-12-31", &s.owner.token).await;
    assert_eq!(assert_problem(res, 422).await["errors"][0]["code"], "range_too_long");
    let res = s.app.get_as("/api/calendar?tz=Mars/Olympus", &s.owner.token).await;
    assert_eq!(assert_problem(res, 422).await["errors"][0]["field"], "tz");
}

fn cookies(s: &super::Social, csrf: &str) -> String {
    format!("{}; sf_csrf={csrf}", s.owner.session_cookie)
}

#[tokio::test]
async fn the_pages_render_and_the_calendar_reschedules() {
    let s = setup().await;
    paris(&s).await;
    let x = x_account(&s, "t").await;
    let day = spring_forward();
    let post = create_post(
        &s,
        json!({ "content": "Move me", "targets": [x], "scheduled_at": format!("{day}T09:00") }),
    )
    .await;
    let id = post["id"].as_str().unwrap();
    let csrf = "c".repeat(43);
    for path in [
        "/app/social",
        &format!("/app/social/calendar?view=week&date={day}"),
        "/app/social/analytics",
    ] {
        let res = s
            .app
            .client
            .get(s.app.url(path))
            .header("cookie", cookies(&s, &csrf))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let html = res.text().await.unwrap();
        assert!(html.contains("social.css"), "{path}");
    }
    let res = s
        .app
        .client
        .get(s.app.url(&format!("/app/social/calendar?view=month&date={day}")))
        .header("cookie", cookies(&s, &csrf))
        .send()
        .await
        .unwrap();
    let html = res.text().await.unwrap();
    assert!(html.contains("Move me") && html.contains(&format!("data-date=\"{day}\"")));
    assert!(html.contains(&format!("{day}T09:00")), "the reschedule form holds the local time");

    // Signed out: to the login page.
    let res = s.app.get("/app/social/calendar").await;
    assert_eq!(res.status(), 303);

    // Reschedule through the page's form: same local time, one day later.
    let next = day + Duration::days(1);
    let form = format!(
        "csrf_token={csrf}&timezone=Europe%2FParis&back=%2Fapp%2Fsocial%2Fcalendar&scheduled_at={next}T09%3A00"
    );
    let res = s
        .app
        .client
        .post(s.app.url(&format!("/app/social/posts/{id}/reschedule")))
        .header("cookie", cookies(&s, &csrf))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    assert!(location.contains("notice="), "{location}");
    let moved: Value =
        s.app.get_as(&format!("/api/posts/{id}"), &s.owner.token).await.json().await.unwrap();
    assert_eq!(
        moved["scheduled_at"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap(),
        at(next, 7, 0)
    );

    // A forged form is refused.
    let res = s
        .app
        .client
        .post(s.app.url(&format!("/app/social/posts/{id}/reschedule")))
        .header("cookie", cookies(&s, &csrf))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf_token=forged&scheduled_at={next}T10%3A00"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);

    // Adding a time slot from the accounts page.
    let res = s
        .app
        .client
        .post(s.app.url(&format!("/app/social/accounts/{x}/slots")))
        .header("cookie", cookies(&s, &csrf))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf_token={csrf}&weekday=tuesday&time=09%3A15"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let slots: Value = s
        .app
        .get_as(&format!("/api/accounts/{x}/slots"), &s.owner.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(slots[0]["weekday"], 1);
    assert_eq!(slots[0]["local_time"], "09:15");
    assert_eq!(slots[0]["timezone"], "Europe/Paris");
}
