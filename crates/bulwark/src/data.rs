//! `bulwark data fetch`: download exchange klines from the public archive.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use bulwark_lab::fetch::{fetch_klines, CivilDate, FetchRequest, Market};
use indicatif::{ProgressBar, ProgressStyle};

/// Arguments of `bulwark data fetch`, already parsed by clap.
pub struct FetchArgs<'a> {
    pub symbol: &'a str,
    pub market: &'a str,
    pub interval: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub cache: Option<&'a Path>,
    pub out: Option<&'a Path>,
    pub base_url: Option<&'a str>,
    pub no_verify: bool,
}

pub fn fetch(a: &FetchArgs) -> Result<()> {
    let market: Market = a.market.parse().map_err(|e| anyhow!("--market: {e}"))?;
    let from: CivilDate = a.from.parse().map_err(|e| anyhow!("--from: {e}"))?;
    let to: CivilDate = a.to.parse().map_err(|e| anyhow!("--to: {e}"))?;
    let cache = a
        .cache
        .map_or_else(|| PathBuf::from("data-cache"), Path::to_path_buf);
    let mut req = FetchRequest::new(market, a.symbol, a.interval, from, to, &cache);
    if let Some(url) = a.base_url {
        req.base_url = url.to_string();
    }
    req.verify_checksum = !a.no_verify;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} days")
            .expect("the template is valid")
            .progress_chars("=> "),
    );
    bar.set_message(format!("{} {}", a.symbol, a.interval));
    let outcome = fetch_klines(&req, |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })
    .with_context(|| format!("fetching {} {} from {}", a.symbol, a.interval, req.base_url))?;
    bar.finish_and_clear();
    crate::out::stdout(&format!(
        "{} days: {} downloaded, {} from cache ({} bytes) in {}\n",
        outcome.files.len(),
        outcome.downloaded,
        outcome.cached,
        outcome.bytes_downloaded,
        cache.display()
    ))?;
    if let Some(out) = a.out {
        let bars = outcome
            .write_simple_csv(out)
            .with_context(|| format!("writing {}", out.display()))?;
        crate::out::stdout(&format!("{bars} bars written to {}\n", out.display()))?;
    }
    Ok(())
}
