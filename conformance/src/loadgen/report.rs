//! Figures from [`RunStats`]: rates, percentiles, one-line summaries and Markdown rows.

use super::{MemoryReport, RunStats, SetupReport};

/// The `q` quantile (0..=1) of sorted values, nearest rank.
pub fn percentile(sorted: &[u32], q: f64) -> Option<u32> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn ms(us: Option<u32>) -> String {
    us.map_or("-".into(), |u| format!("{:.1}", f64::from(u) / 1000.0))
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("-".into(), |k| format!("{:.0} MiB", k as f64 / 1024.0))
}

impl RunStats {
    /// Completed sessions per second.
    pub fn sessions_per_sec(&self) -> f64 {
        self.sessions as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// HTTP requests (DM messages) per second.
    pub fn messages_per_sec(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// p50, p95, p99 session latency in ms, as text.
    pub fn latency_text(&self) -> String {
        let l = &self.latencies_us;
        format!("{} / {} / {}", ms(percentile(l, 0.5)), ms(percentile(l, 0.95)), ms(percentile(l, 0.99)))
    }

    /// CPU used, in cores (CPU seconds per wall second): client, server, postgres; machine busy.
    pub fn cpu_text(&self) -> String {
        let Some(c) = self.cpu else { return "-".into() };
        let s = self.elapsed.as_secs_f64().max(1e-9);
        let mut t = format!("client {:.2}, server {:.2}", c.client / s, c.server / s);
        if c.postgres > 0.0 {
            t.push_str(&format!(", postgres {:.2}", c.postgres / s));
        }
        t.push_str(&format!(" cores; machine {:.0}% busy", c.machine_busy * 100.0));
        t
    }

    /// Server CPU µs per completed session (DM server, or baseline threads), plus PostgreSQL.
    pub fn server_cpu_per_session_us(&self) -> Option<f64> {
        let c = self.cpu?;
        (self.sessions > 0).then(|| (c.server + c.postgres) * 1e6 / self.sessions as f64)
    }

    /// A human summary.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} {} C={}: {:.1} s, {} sessions ({:.1}/s), {} messages ({:.1}/s), latency p50/p95/p99 {} ms, errors {}",
            self.label,
            self.encoding,
            self.concurrency,
            self.elapsed.as_secs_f64(),
            self.sessions,
            self.sessions_per_sec(),
            self.requests,
            self.messages_per_sec(),
            self.latency_text(),
            self.errors.total(),
        );
        if let Some(l) = self.load_avg {
            s.push_str(&format!(", load average {l:.1}"));
        }
        if self.server_peak_rss_kib.is_some() {
            s.push_str(&format!(", server peak RSS {}", mib(self.server_peak_rss_kib)));
        }
        if self.cpu.is_some() {
            s.push_str(&format!("\n    CPU: {}", self.cpu_text()));
            if let Some(us) = self.server_cpu_per_session_us() {
                s.push_str(&format!(
                    "; server{} CPU {:.0} µs/session",
                    if self.label == "baseline" { " (baseline)" } else { " + DB" },
                    us
                ));
            }
        }
        if self.enqueues > 0 {
            s.push_str(&format!(
                "\n    in-run enqueues (admin API, not in the session latency): {}, p50/p99 {} / {} ms",
                self.enqueues,
                ms(percentile(&self.enqueue_latencies_us, 0.5)),
                ms(percentile(&self.enqueue_latencies_us, 0.99)),
            ));
        }
        if self.connects > self.concurrency as u64 {
            s.push_str(&format!(
                "\n    connections opened: {} for {} workers",
                self.connects, self.concurrency
            ));
        }
        if let Some(c) = &self.canned {
            s.push_str(&format!(
                "\n    bytes: package 1 {}, package 2 {}, package 3 {}, package 4 {}",
                self.request_bytes[0],
                c.pkg2.len(),
                self.request_bytes[1],
                c.pkg4.len()
            ));
        }
        for (k, v) in &self.errors.by_kind {
            s.push_str(&format!("\n    error {k}: {v}"));
        }
        for e in &self.errors.samples {
            s.push_str(&format!("\n    e.g. {e}"));
        }
        s
    }
}

/// The Markdown table header matching [`markdown_row`].
pub const MARKDOWN_HEADER: &str = "| backend | encoding | C | sessions/s | messages/s | p50 / p95 / p99 ms | errors | server peak RSS | server + DB CPU µs/session | baseline msgs/s | ratio DM : baseline | load avg |\n| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |";

/// One row: the DM run and its baseline.
pub fn markdown_row(backend: &str, dm: &RunStats, baseline: Option<&RunStats>) -> String {
    let (b, ratio) = match baseline {
        Some(b) => (
            format!("{:.0}", b.messages_per_sec()),
            format!("{:.0} %", 100.0 * dm.messages_per_sec() / b.messages_per_sec().max(1e-9)),
        ),
        None => ("-".into(), "-".into()),
    };
    format!(
        "| {backend} | {} | {} | {:.0} | {:.0} | {} | {} | {} | {} | {b} | {ratio} | {} |",
        dm.encoding,
        dm.concurrency,
        dm.sessions_per_sec(),
        dm.messages_per_sec(),
        dm.latency_text(),
        dm.errors.total(),
        mib(dm.server_peak_rss_kib),
        dm.server_cpu_per_session_us().map_or("-".into(), |u| format!("{u:.0}")),
        dm.load_avg.map_or("-".into(), |l| format!("{l:.1}")),
    )
}

/// The ratio line printed after a DM run and its baseline.
pub fn ratio_line(dm: &RunStats, b: &RunStats) -> String {
    format!(
        "ratio DM : baseline messages/s = {:.0} : {:.0} = {:.1} %",
        dm.messages_per_sec(),
        b.messages_per_sec(),
        100.0 * dm.messages_per_sec() / b.messages_per_sec().max(1e-9)
    )
}

impl SetupReport {
    /// A human summary.
    pub fn summary(&self, what: &str) -> String {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let mut s = format!(
            "{what}: {} devices registered, {} queued (Get + Replace), {} API requests in {:.1} s ({:.0} requests/s), errors {}",
            self.registered,
            self.queued,
            self.requests,
            secs,
            self.requests as f64 / secs,
            self.errors.total()
        );
        for e in &self.errors.samples {
            s.push_str(&format!("\n    e.g. {e}"));
        }
        s
    }
}

impl MemoryReport {
    /// A human summary.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "memory: {} sessions left in package 2 over {} connections (opened in {:.1} s): server RSS {:.1} → {:.1} MiB, {:+.0} bytes per in-flight session, errors {}",
            self.sessions,
            self.connections,
            self.elapsed.as_secs_f64(),
            self.rss_before_kib as f64 / 1024.0,
            self.rss_after_kib as f64 / 1024.0,
            self.bytes_per_session(),
            self.errors.total()
        );
        for e in &self.errors.samples {
            s.push_str(&format!("\n    e.g. {e}"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.5), Some(50));
        assert_eq!(percentile(&v, 0.99), Some(99));
        assert_eq!(percentile(&v, 1.0), Some(100));
        assert_eq!(percentile(&[7], 0.5), Some(7));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
