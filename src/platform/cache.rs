//! The `Cache`: sessions, counters, short-lived values and cross-instance pub/sub.
//!
//! Redis when `redis.url` is set; otherwise an in-process map that serves a single instance.
//! Redis is an accelerator, never the store of record: callers treat errors as "not cached".

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use async_trait::async_trait;
use deadpool_redis::{Pool, Runtime, redis};
use futures_util::StreamExt;
use tokio::sync::broadcast;

/// Every pub/sub channel is published under this prefix, so one pattern subscription per
/// instance receives exactly SmartFlow's messages.
const CHANNEL_PREFIX: &str = "sf:";
const CHANNEL_CAPACITY: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheBackend {
    Redis,
    Memory,
}

impl CacheBackend {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheBackend::Redis => "redis",
            CacheBackend::Memory => "memory",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis pool: {0}")]
    Pool(#[from] deadpool_redis::PoolError),
    #[error("cache operation timed out")]
    Timeout,
    #[error("value at `{0}` is not a counter")]
    NotACounter(String),
}

/// A fixed-window counter after an increment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    pub count: u64,
    /// Time until the window resets.
    pub resets_in: Duration,
}

#[async_trait]
pub trait Cache: Send + Sync + 'static {
    fn backend(&self) -> CacheBackend;
    async fn get(&self, key: &str) -> Result<Option<String>, CacheError>;
    async fn set(&self, key: &str, value: &str, ttl: Option<Duration>) -> Result<(), CacheError>;
    /// Sets the key only when absent; `true` when this call set it.
    async fn set_nx(&self, key: &str, value: &str, ttl: Duration) -> Result<bool, CacheError>;
    async fn delete(&self, key: &str) -> Result<bool, CacheError>;
    /// `INCR` + `EXPIRE` on first use: a fixed window of `window` starting at the first hit.
    async fn incr(&self, key: &str, window: Duration) -> Result<Counter, CacheError>;
    /// Gives back one `incr` of a counter still in its window (a refund); no-op otherwise.
    async fn decr(&self, key: &str) -> Result<(), CacheError>;
    async fn publish(&self, channel: &str, message: &str) -> Result<(), CacheError>;
    /// Messages published on `channel` by any instance from now on.
    async fn subscribe(&self, channel: &str) -> Result<Subscription, CacheError>;
    async fn ping(&self) -> Result<(), CacheError>;
}

/// A live subscription; dropping it unsubscribes.
pub struct Subscription {
    rx: broadcast::Receiver<Arc<str>>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum RecvError {
    /// This subscriber fell behind and `n` messages were dropped for it; resynchronise.
    Lagged(u64),
    Closed,
}

impl Subscription {
    pub async fn recv(&mut self) -> Result<Arc<str>, RecvError> {
        match self.rx.recv().await {
            Ok(m) => Ok(m),
            Err(broadcast::error::RecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
            Err(broadcast::error::RecvError::Closed) => Err(RecvError::Closed),
        }
    }
}

/// Local fan-out from one incoming stream of messages to any number of subscribers.
#[derive(Default)]
struct Hub {
    channels: Mutex<HashMap<String, broadcast::Sender<Arc<str>>>>,
}

impl Hub {
    fn subscribe(&self, channel: &str) -> Subscription {
        let mut channels = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        let tx = channels
            .entry(channel.to_string())
            .or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0);
        Subscription { rx: tx.subscribe() }
    }

    fn deliver(&self, channel: &str, message: Arc<str>) {
        let mut channels = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        // A failed send means nobody listens any more.
        if let Some(tx) = channels.get(channel)
            && tx.send(message).is_err()
        {
            channels.remove(channel);
        }
    }
}

// ---- in-memory --------------------------------------------------------------------------

struct Entry {
    value: String,
    expires: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|e| e > now)
    }
}

/// Single-instance cache for development and for deployments without Redis.
#[derive(Default)]
pub struct MemoryCache {
    map: Mutex<HashMap<String, Entry>>,
    writes: AtomicU64,
    hub: Hub,
}

impl MemoryCache {
    pub fn new() -> Self {
        Self::default()
    }

    fn with_map<T>(&self, f: impl FnOnce(&mut HashMap<String, Entry>, Instant) -> T) -> T {
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        // Expired keys are dropped lazily on read and swept every 4096 writes.
        if self.writes.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            map.retain(|_, e| e.live(now));
        }
        f(&mut map, now)
    }
}

#[async_trait]
impl Cache for MemoryCache {
    fn backend(&self) -> CacheBackend {
        CacheBackend::Memory
    }

    async fn get(&self, key: &str) -> Result<Option<String>, CacheError> {
        Ok(self.with_map(|map, now| match map.get(key) {
            Some(e) if e.live(now) => Some(e.value.clone()),
            Some(_) => {
                map.remove(key);
                None
            }
            None => None,
        }))
    }

    async fn set(&self, key: &str, value: &str, ttl: Option<Duration>) -> Result<(), CacheError> {
        self.with_map(|map, now| {
            map.insert(
                key.to_string(),
                Entry { value: value.to_string(), expires: ttl.map(|t| now + t) },
            );
        });
        Ok(())
    }

    async fn set_nx(&self, key: &str, value: &str, ttl: Duration) -> Result<bool, CacheError> {
        Ok(self.with_map(|map, now| {
            if map.get(key).is_some_and(|e| e.live(now)) {
                return false;
            }
            map.insert(
                key.to_string(),
                Entry { value: value.to_string(), expires: Some(now + ttl) },
            );
            true
        }))
    }

    async fn delete(&self, key: &str) -> Result<bool, CacheError> {
        Ok(self.with_map(|map, now| map.remove(key).is_some_and(|e| e.live(now))))
    }

    async fn incr(&self, key: &str, window: Duration) -> Result<Counter, CacheError> {
        self.with_map(|map, now| {
            let entry = match map.get_mut(key) {
                Some(e) if e.live(now) => e,
                _ => {
                    map.insert(
                        key.to_string(),
                        Entry { value: "0".into(), expires: Some(now + window) },
                    );
                    map.get_mut(key).ok_or_else(|| CacheError::NotACounter(key.to_string()))?
                }
            };
            let count: u64 =
                entry.value.parse().map_err(|_| CacheError::NotACounter(key.to_string()))?;
            let count = count + 1;
            entry.value = count.to_string();
            let expires = *entry.expires.get_or_insert(now + window);
            Ok(Counter { count, resets_in: expires.saturating_duration_since(now) })
        })
    }

    async fn decr(&self, key: &str) -> Result<(), CacheError> {
        self.with_map(|map, now| {
            if let Some(entry) = map.get_mut(key).filter(|e| e.live(now)) {
                let count: u64 =
                    entry.value.parse().map_err(|_| CacheError::NotACounter(key.to_string()))?;
                entry.value = count.saturating_sub(1).to_string();
            }
            Ok(())
        })
    }

    async fn publish(&self, channel: &str, message: &str) -> Result<(), CacheError> {
        self.hub.deliver(channel, Arc::from(message));
        Ok(())
    }

    async fn subscribe(&self, channel: &str) -> Result<Subscription, CacheError> {
        Ok(self.hub.subscribe(channel))
    }

    async fn ping(&self) -> Result<(), CacheError> {
        Ok(())
    }
}

// ---- Redis ------------------------------------------------------------------------------

pub struct RedisCache {
    pool: Pool,
    prefix: String,
    timeout: Duration,
    hub: Arc<Hub>,
    listener: tokio::task::JoinHandle<()>,
}

impl Drop for RedisCache {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl RedisCache {
    /// Builds the pool and verifies the server answers, so a wrong `redis.url` fails at start.
    pub async fn connect(
        url: &str,
        pool_size: usize,
        timeout: Duration,
        prefix: &str,
    ) -> anyhow::Result<Self> {
        let pool = deadpool_redis::Config::from_url(url)
            .builder()?
            .max_size(pool_size)
            .wait_timeout(Some(timeout))
            .create_timeout(Some(timeout))
            .recycle_timeout(Some(timeout))
            .runtime(Runtime::Tokio1)
            .build()?;
        let client = redis::Client::open(url)?;
        let hub = Arc::new(Hub::default());
        let (ready_tx, mut ready) = tokio::sync::watch::channel(false);
        let channel_prefix = format!("{prefix}{CHANNEL_PREFIX}");
        let listener = tokio::spawn(listen(client, hub.clone(), ready_tx, channel_prefix));
        let cache = RedisCache { pool, prefix: prefix.to_string(), timeout, hub, listener };
        cache
            .ping()
            .await
            .map_err(|e| anyhow::anyhow!("could not reach Redis at redis.url: {e}"))?;
        // Messages published after `connect` returns must reach this instance's subscribers.
        tokio::time::timeout(timeout, ready.wait_for(|r| *r))
            .await
            .map_err(|_| anyhow::anyhow!("Redis pub/sub subscription timed out"))?
            .map_err(|_| anyhow::anyhow!("Redis pub/sub listener stopped"))?;
        Ok(cache)
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    async fn run<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, CacheError> {
        let fut = async {
            let mut conn = self.pool.get().await?;
            Ok::<T, CacheError>(cmd.query_async::<T>(&mut conn).await?)
        };
        tokio::time::timeout(self.timeout, fut).await.map_err(|_| CacheError::Timeout)?
    }
}

/// One pattern subscription per instance, reconnecting with backoff when the connection drops.
async fn listen(
    client: redis::Client,
    hub: Arc<Hub>,
    ready: tokio::sync::watch::Sender<bool>,
    channel_prefix: String,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => match pubsub.psubscribe(format!("{channel_prefix}*")).await {
                Ok(()) => {
                    backoff = Duration::from_millis(100);
                    ready.send_replace(true);
                    let mut messages = pubsub.on_message();
                    while let Some(msg) = messages.next().await {
                        let channel = msg.get_channel_name();
                        let Some(channel) = channel.strip_prefix(channel_prefix.as_str()) else {
                            continue;
                        };
                        if let Ok(payload) = msg.get_payload::<String>() {
                            hub.deliver(channel, Arc::from(payload));
                        }
                    }
                    tracing::warn!("redis pub/sub connection closed; reconnecting");
                }
                Err(e) => tracing::warn!(error = %e, "redis psubscribe failed"),
            },
            Err(e) => tracing::warn!(error = %e, "redis pub/sub connection failed"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// `INCR`, and `PEXPIRE` when the key is new, in one atomic step; returns the count and `PTTL`.
const INCR_SCRIPT: &str = r"
local c = redis.call('INCR', KEYS[1])
if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local t = redis.call('PTTL', KEYS[1])
if t < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); t = tonumber(ARGV[1]) end
return {c, t}
";

/// `DECR` only while the window lasts and above zero: an expired counter must not come back
/// as a key without expiry.
const DECR_SCRIPT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 and tonumber(redis.call('GET', KEYS[1])) > 0 then
  return redis.call('DECR', KEYS[1])
end
return 0
";

#[async_trait]
impl Cache for RedisCache {
    fn backend(&self) -> CacheBackend {
        CacheBackend::Redis
    }

    async fn get(&self, key: &str) -> Result<Option<String>, CacheError> {
        self.run(redis::cmd("GET").arg(self.key(key))).await
    }

    async fn set(&self, key: &str, value: &str, ttl: Option<Duration>) -> Result<(), CacheError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key)).arg(value);
        if let Some(ttl) = ttl {
            cmd.arg("PX").arg(ttl.as_millis().max(1) as u64);
        }
        self.run::<()>(&cmd).await
    }

    async fn set_nx(&self, key: &str, value: &str, ttl: Duration) -> Result<bool, CacheError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key)).arg(value).arg("NX").arg("PX").arg(ttl.as_millis().max(1) as u64);
        let reply: Option<String> = self.run(&cmd).await?;
        Ok(reply.is_some())
    }

    async fn delete(&self, key: &str) -> Result<bool, CacheError> {
        let n: u64 = self.run(redis::cmd("DEL").arg(self.key(key))).await?;
        Ok(n > 0)
    }

    async fn incr(&self, key: &str, window: Duration) -> Result<Counter, CacheError> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(INCR_SCRIPT).arg(1).arg(self.key(key)).arg(window.as_millis().max(1) as u64);
        let (count, pttl): (u64, i64) = self.run(&cmd).await?;
        Ok(Counter { count, resets_in: Duration::from_millis(pttl.max(0) as u64) })
    }

    async fn decr(&self, key: &str) -> Result<(), CacheError> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(DECR_SCRIPT).arg(1).arg(self.key(key));
        self.run::<i64>(&cmd).await.map(|_| ())
    }

    async fn publish(&self, channel: &str, message: &str) -> Result<(), CacheError> {
        self.run::<i64>(
            redis::cmd("PUBLISH")
                .arg(format!("{}{CHANNEL_PREFIX}{channel}", self.prefix))
                .arg(message),
        )
        .await
        .map(|_| ())
    }

    async fn subscribe(&self, channel: &str) -> Result<Subscription, CacheError> {
        Ok(self.hub.subscribe(channel))
    }

    async fn ping(&self) -> Result<(), CacheError> {
        self.run::<String>(&redis::cmd("PING")).await.map(|_| ())
    }
}

/// Redis when `redis.url` is set, otherwise the in-memory cache.
pub async fn from_settings(
    settings: &crate::config::RedisSettings,
) -> anyhow::Result<Arc<dyn Cache>> {
    match settings.url.get() {
        Some(url) => {
            let cache = RedisCache::connect(
                url,
                settings.pool_size,
                Duration::from_millis(settings.timeout_ms),
                &settings.key_prefix,
            )
            .await?;
            tracing::info!("cache: redis");
            Ok(Arc::new(cache))
        }
        None => {
            tracing::info!("cache: in-memory (set REDIS_URL to share state between instances)");
            Ok(Arc::new(MemoryCache::new()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_counter_is_a_fixed_window() {
        let cache = MemoryCache::new();
        let a = cache.incr("k", Duration::from_secs(60)).await.unwrap();
        let b = cache.incr("k", Duration::from_secs(60)).await.unwrap();
        assert_eq!((a.count, b.count), (1, 2));
        assert!(b.resets_in <= Duration::from_secs(60) && b.resets_in > Duration::from_secs(58));
        cache.set("s", "text", None).await.unwrap();
        assert!(matches!(
            cache.incr("s", Duration::from_secs(1)).await,
            Err(CacheError::NotACounter(_))
        ));
    }

    #[tokio::test]
    async fn memory_decr_refunds_only_a_live_counter() {
        let c = MemoryCache::new();
        c.incr("k", Duration::from_secs(60)).await.unwrap();
        c.incr("k", Duration::from_secs(60)).await.unwrap();
        c.decr("k").await.unwrap();
        assert_eq!(c.get("k").await.unwrap().as_deref(), Some("1"));
        c.decr("missing").await.unwrap();
        assert_eq!(c.get("missing").await.unwrap(), None, "no counter appears from a refund");
    }

    #[tokio::test]
    async fn memory_expiry_and_set_nx() {
        let cache = MemoryCache::new();
        cache.set("gone", "v", Some(Duration::ZERO)).await.unwrap();
        assert_eq!(cache.get("gone").await.unwrap(), None);
        assert!(cache.set_nx("lock", "a", Duration::from_secs(5)).await.unwrap());
        assert!(!cache.set_nx("lock", "b", Duration::from_secs(5)).await.unwrap());
        assert_eq!(cache.get("lock").await.unwrap().as_deref(), Some("a"));
        assert!(cache.delete("lock").await.unwrap());
        assert!(!cache.delete("lock").await.unwrap());
    }

    #[tokio::test]
    async fn memory_pubsub_reaches_every_subscriber_of_the_channel() {
        let cache = MemoryCache::new();
        let mut a = cache.subscribe("c1").await.unwrap();
        let mut b = cache.subscribe("c1").await.unwrap();
        let mut other = cache.subscribe("c2").await.unwrap();
        cache.publish("c1", "hello").await.unwrap();
        cache.publish("c2", "other").await.unwrap();
        assert_eq!(&*a.recv().await.unwrap(), "hello");
        assert_eq!(&*b.recv().await.unwrap(), "hello");
        assert_eq!(&*other.recv().await.unwrap(), "other");
    }
}
