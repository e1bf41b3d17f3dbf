//! This process's memory and CPU, read from `/proc` (Linux; other systems report `None`).

use std::{
    sync::Mutex,
    time::{Instant, SystemTime, UNIX_EPOCH},
};

#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessStats {
    pub rss_bytes: Option<u64>,
    pub virtual_bytes: Option<u64>,
    pub cpu_seconds: Option<f64>,
    pub threads: Option<u64>,
    pub open_fds: Option<u64>,
    pub start_time_secs: Option<f64>,
}

fn page_size() -> u64 {
    4096
}

fn clock_ticks() -> f64 {
    100.0
}

pub fn stats() -> ProcessStats {
    let mut s = ProcessStats::default();
    if let Ok(statm) = std::fs::read_to_string("/proc/self/statm") {
        let mut parts = statm.split_whitespace();
        s.virtual_bytes = parts.next().and_then(|v| v.parse::<u64>().ok()).map(|p| p * page_size());
        s.rss_bytes = parts.next().and_then(|v| v.parse::<u64>().ok()).map(|p| p * page_size());
    }
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // Fields after the command name, which is in parentheses and may contain spaces.
        if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) {
            let f: Vec<&str> = rest.split_whitespace().collect();
            // f[0] is field 3 (state); utime=14, stime=15, num_threads=20, starttime=22.
            let field = |n: usize| f.get(n - 3).and_then(|v| v.parse::<f64>().ok());
            if let (Some(u), Some(st)) = (field(14), field(15)) {
                s.cpu_seconds = Some((u + st) / clock_ticks());
            }
            s.threads = field(20).map(|t| t as u64);
            if let (Some(start), Some(boot)) = (field(22), boot_time()) {
                s.start_time_secs = Some(boot + start / clock_ticks());
            }
        }
    }
    s.open_fds = std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count() as u64);
    s
}

fn boot_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines().find_map(|l| l.strip_prefix("btime ")).and_then(|v| v.trim().parse().ok())
}

/// CPU use since the previous call, as a percentage of one core (200 = two cores busy).
pub struct CpuSampler {
    last: Mutex<Option<(Instant, f64)>>,
}

impl Default for CpuSampler {
    fn default() -> Self {
        CpuSampler { last: Mutex::new(stats().cpu_seconds.map(|c| (Instant::now(), c))) }
    }
}

impl CpuSampler {
    pub fn sample(&self) -> Option<f64> {
        let now = Instant::now();
        let cpu = stats().cpu_seconds?;
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let percent = last.and_then(|(at, prev)| {
            let wall = now.duration_since(at).as_secs_f64();
            (wall > 0.0).then(|| ((cpu - prev) / wall * 100.0).max(0.0))
        });
        *last = Some((now, cpu));
        percent.or(Some(0.0))
    }
}

pub fn unix_now_secs() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(target_os = "linux")]
    fn reads_own_process() {
        let s = super::stats();
        assert!(s.rss_bytes.unwrap() > 0);
        assert!(s.threads.unwrap() >= 1);
        assert!(s.open_fds.unwrap() >= 3);
    }
}
