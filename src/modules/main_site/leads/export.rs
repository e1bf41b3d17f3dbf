//! The streaming CSV export: leads are read in keyset batches and written as they come, so the
//! export holds one batch in memory however many leads there are, and no connection is held
//! while the client reads slowly.

use bytes::Bytes;
use futures_util::{Stream, stream};
use sqlx::PgPool;

use super::{model::Lead, repo};

const BATCH: i64 = 500;

pub const HEADER: [&str; 20] = [
    "id",
    "created_at",
    "name",
    "email",
    "company",
    "phone",
    "source",
    "status",
    "owner_id",
    "consent",
    "submission_count",
    "last_submitted_at",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "referrer",
    "landing_page",
    "message",
];

/// One CSV cell (RFC 4180). A cell that a spreadsheet would run as a formula gets a leading `'`.
pub fn cell(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

fn push_row(out: &mut String, cells: &[&str]) {
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&cell(c));
    }
    out.push_str("\r\n");
}

fn row(out: &mut String, l: &Lead) {
    let o = |v: &Option<String>| v.clone().unwrap_or_default();
    let (id, created, owner) = (
        l.id.to_string(),
        l.created_at.to_rfc3339(),
        l.owner_id.map(|o| o.to_string()).unwrap_or_default(),
    );
    let (count, last) = (l.submission_count.to_string(), l.last_submitted_at.to_rfc3339());
    let fields = [
        id,
        created,
        l.name.clone(),
        l.email.clone(),
        o(&l.company),
        o(&l.phone),
        o(&l.source),
        l.status.as_str().to_string(),
        owner,
        l.consent.to_string(),
        count,
        last,
        o(&l.utm_source),
        o(&l.utm_medium),
        o(&l.utm_campaign),
        o(&l.utm_term),
        o(&l.utm_content),
        o(&l.referrer),
        o(&l.landing_page),
        o(&l.message),
    ];
    let refs: Vec<&str> = fields.iter().map(String::as_str).collect();
    push_row(out, &refs);
}

enum Step {
    Header(repo::Query),
    Next(repo::Query),
    Done,
}

/// Every lead matching `query` (its cursor and limit are ignored), header first.
pub fn stream(
    db: PgPool,
    mut query: repo::Query,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> {
    query.after = None;
    query.limit = BATCH;
    stream::unfold(Step::Header(query), move |step| {
        let db = db.clone();
        async move {
            match step {
                Step::Header(q) => {
                    let mut out = String::from("\u{feff}");
                    push_row(&mut out, &HEADER);
                    Some((Ok(Bytes::from(out)), Step::Next(q)))
                }
                Step::Next(mut q) => match repo::list(&db, &q).await {
                    Ok(items) if items.is_empty() => None,
                    Ok(items) => {
                        let mut out = String::with_capacity(items.len() * 256);
                        for l in &items {
                            row(&mut out, l);
                        }
                        let full = items.len() as i64 == q.limit;
                        let next = match (full, items.last()) {
                            (true, Some(last)) => {
                                q.after = Some((last.created_at, last.id));
                                Step::Next(q)
                            }
                            _ => Step::Done,
                        };
                        Some((Ok(Bytes::from(out)), next))
                    }
                    // The status line is sent already; cutting the body short tells the client.
                    Err(e) => {
                        tracing::error!(error = %e, "lead export failed part-way");
                        Some((Err(std::io::Error::other("export failed")), Step::Done))
                    }
                },
                Step::Done => None,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\"\nbye"), "\"say \"\"hi\"\"\nbye\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("-2+3"), "'-2+3");
    }
}
