-- Videos: length measured at upload (MP4/MOV `mvhd`), so platform duration rules apply when
-- a post is scheduled rather than when it is published.
alter table smartflow_shared.uploads add column duration_ms bigint;

-- Accounts: what the platform would not let SmartFlow read (metrics), the token expiry the
-- owner was last warned about, and the instance's own post length (Mastodon).
alter table smartflow_social.accounts
    add column metrics_note      text,
    add column metrics_note_at   timestamptz,
    add column expiry_warned_for timestamptz,
    add column max_characters    integer check (max_characters > 0);

-- The platform's own id of each request, for its support.
alter table smartflow_social.publish_attempts add column platform_request_id text;
