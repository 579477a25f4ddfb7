//! The CLI's edge with the outside world: reading the policy file, finding today's date in the
//! policy's time zone, and writing output files atomically.

use std::path::Path;
use zonegate_policy::diagnostic::{Diagnostic, Severity};
use zonegate_policy::{t, validate_bytes, Checked, Date};

pub struct Loaded {
    pub checked: Checked,
}

/// Reads and validates a policy. `today` overrides the date; otherwise it is today's date in
/// the policy's own time zone (expiry dates are inclusive there).
pub fn load(path: &Path, today: Option<&str>) -> Result<Loaded, String> {
    load_with(path, today, validate_bytes)
}

/// How a policy's bytes are checked (`validate_bytes`, or `validate_for_review` for diff).
pub type Check = fn(&str, &[u8], Option<Date>) -> Checked;

/// [`load`] with another check.
pub fn load_with(
    path: &Path,
    today: Option<&str>,
    validate_bytes: Check,
) -> Result<Loaded, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let file = path.display().to_string();
    let today = match today {
        Some(t) => Some(
            Date::parse(t).ok_or_else(|| format!("--today {t:?} is not a date (YYYY-MM-DD)"))?,
        ),
        None => None,
    };
    // First pass without a date, to learn the policy's time zone.
    let first = validate_bytes(&file, &bytes, today);
    if today.is_some() {
        return Ok(Loaded { checked: first });
    }
    let Some(policy) = &first.policy else {
        return Ok(Loaded { checked: first });
    };
    match today_in(&policy.timezone) {
        Ok(date) => Ok(Loaded {
            checked: validate_bytes(&file, &bytes, Some(date)),
        }),
        Err(why) => {
            let mut checked = first.clone();
            let at = policy.positions.timezone;
            checked.diagnostics.items.push(Diagnostic {
                code: "E020",
                severity: Severity::Error,
                file,
                line: at.line,
                column: at.column,
                message: t!(
                    E020_UNKNOWN_TIMEZONE,
                    zone = format!("{:?}", policy.timezone),
                    why = why
                ),
                hint: Some(t!(E020_UNKNOWN_TIMEZONE_HINT)),
            });
            checked.policy = None;
            Ok(Loaded { checked })
        }
    }
}

fn today_in(tz: &str) -> Result<Date, String> {
    let zone = jiff::tz::TimeZone::get(tz).map_err(|e| e.to_string())?;
    let now = jiff::Timestamp::now().to_zoned(zone);
    let d = now.date();
    Date::parse(&format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day()))
        .ok_or_else(|| "the clock gives an impossible date".to_string())
}

/// Writes a file so that readers see the old or the new content, never half of it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| format!("{} is not a file path", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot write {}: {e}", path.display())
    })
}
