//! Standard five-field cron schedules as CronJobs use them (`*/5 * * * *`, `0 9 * * mon-fri`,
//! `@hourly`, ...): parsing with upstream-like errors and minute-by-minute matching.

use jiff::Zoned;

/// A parsed schedule: the allowed values of each field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    minutes: Vec<bool>,
    hours: Vec<bool>,
    days: Vec<bool>,
    months: Vec<bool>,
    weekdays: Vec<bool>,
    /// Both day fields restricted: a day matches if either does (as cron does).
    either_day: bool,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl Schedule {
    /// Parses a schedule, or says what is wrong with it.
    pub fn parse(spec: &str) -> Result<Schedule, String> {
        let spec = match spec.trim() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            s => s,
        };
        if spec.starts_with("@every") {
            return Err(format!(
                "{spec}: @every schedules are not supported by this API server; \
                 use five fields (e.g. \"*/5 * * * *\")"
            ));
        }
        let fields: Vec<&str> = spec.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "expected exactly 5 fields, found {}: {spec}",
                fields.len()
            ));
        }
        let days = field(fields[2], 1, 31, &[])?;
        let weekdays = field(fields[4], 0, 7, &WEEKDAYS)?;
        let mut wd = weekdays.clone();
        // 7 is Sunday too.
        if wd[7] {
            wd[0] = true;
        }
        wd.truncate(7);
        Ok(Schedule {
            minutes: field(fields[0], 0, 59, &[])?,
            hours: field(fields[1], 0, 23, &[])?,
            months: field(fields[3], 1, 12, &MONTHS)?,
            either_day: !is_star(fields[2]) && !is_star(fields[4]),
            days,
            weekdays: wd,
        })
    }

    /// Whether the schedule fires at this minute.
    pub fn matches(&self, t: &Zoned) -> bool {
        let at = |v: &[bool], i: i64| usize::try_from(i).ok().and_then(|i| v.get(i)) == Some(&true);
        let day = at(&self.days, i64::from(t.day()));
        let weekday = at(
            &self.weekdays,
            i64::from(t.weekday().to_sunday_zero_offset()),
        );
        let day_ok = if self.either_day {
            day || weekday
        } else {
            day && weekday
        };
        at(&self.minutes, i64::from(t.minute()))
            && at(&self.hours, i64::from(t.hour()))
            && at(&self.months, i64::from(t.month()))
            && day_ok
    }
}

/// Whether a day field is unrestricted in cron's sense: some part is `*` or `?` with step 1.
/// `*/2` is a restriction, so `0 0 */2 * mon` fires on odd days *or* Mondays, as robfig/cron does.
fn is_star(f: &str) -> bool {
    f.split(',').any(|part| {
        let (range, step) = part.split_once('/').unwrap_or((part, "1"));
        (range == "*" || range == "?") && step == "1"
    })
}

/// One field as a table of allowed values (index = value).
fn field(f: &str, min: u32, max: u32, names: &[&str]) -> Result<Vec<bool>, String> {
    let mut out = vec![false; max as usize + 1];
    for part in f.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<u32>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("invalid step in {part:?}"))?,
            ),
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" || range == "?" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, names, min)?, value(b, names, min)?)
        } else {
            let v = value(range, names, min)?;
            (v, if part.contains('/') { max } else { v })
        };
        if lo < min || hi > max || lo > hi {
            return Err(format!(
                "{part:?} is outside the range {min}-{max} of its field"
            ));
        }
        for v in (lo..=hi).step_by(step as usize) {
            out[v as usize] = true;
        }
    }
    Ok(out)
}

fn value(s: &str, names: &[&str], min: u32) -> Result<u32, String> {
    if let Ok(n) = s.parse::<u32>() {
        return Ok(n);
    }
    let lower = s.to_ascii_lowercase();
    names
        .iter()
        .position(|n| *n == lower)
        .map(|i| i as u32 + min)
        .ok_or_else(|| format!("failed to parse int from {s}: not a number or a known name"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Zoned {
        s.parse::<jiff::civil::DateTime>()
            .unwrap()
            .to_zoned(jiff::tz::TimeZone::UTC)
            .unwrap()
    }

    #[test]
    fn fields_ranges_steps_names_and_macros() {
        let s = Schedule::parse("*/15 9-17 * * mon-fri").unwrap();
        assert!(s.matches(&at("2026-11-23T09:30:00")), "a Monday");
        assert!(!s.matches(&at("2026-11-22T09:30:00")), "a Sunday");
        assert!(!s.matches(&at("2026-11-23T09:31:00")));
        let h = Schedule::parse("@hourly").unwrap();
        assert!(h.matches(&at("2026-11-23T10:00:00")));
        assert!(!h.matches(&at("2026-11-23T10:01:00")));
        let either = Schedule::parse("0 0 1 * sun").unwrap();
        assert!(either.matches(&at("2026-11-22T00:00:00")), "a Sunday");
        assert!(either.matches(&at("2026-12-01T00:00:00")), "the 1st");
        let stepped = Schedule::parse("0 0 */2 * mon").unwrap();
        assert!(
            stepped.matches(&at("2026-11-23T00:00:00")),
            "an even day, but a Monday"
        );
        assert!(stepped.matches(&at("2026-11-25T00:00:00")), "an odd day");
        assert!(!stepped.matches(&at("2026-11-24T00:00:00")));
        assert!(
            Schedule::parse("0 0 * * 7")
                .unwrap()
                .matches(&at("2026-11-22T00:00:00"))
        );
    }

    #[test]
    fn bad_schedules_say_why() {
        assert!(Schedule::parse("* * * *").unwrap_err().contains("5 fields"));
        assert!(Schedule::parse("61 * * * *").is_err());
        assert!(Schedule::parse("*/0 * * * *").is_err());
        assert!(Schedule::parse("* * * foo *").is_err());
        assert!(
            Schedule::parse("@every 1h")
                .unwrap_err()
                .contains("not supported")
        );
    }
}
