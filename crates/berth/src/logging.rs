//! Logging set up from `log.level`, `log.formatter`, `log.fields` and
//! `log.accesslog.disabled`. `RUST_LOG` wins over `log.level` when set.

use std::io::{self, Write};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::settings::LogSettings;

pub fn init(log: &LogSettings) {
    let mut directives = format!("{},sqlx=warn,hyper=warn", log.level);
    if !log.access_log {
        directives.push_str(",berth::access=off");
    }
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(directives));
    let writer = StaticFields::new(&log.fields, log.json);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(writer);
    if log.json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Adds `log.fields` to every line. tracing's field names are static, so the fields are
/// spliced into each formatted line instead: as members of the JSON object, or as
/// `key=value` pairs at the end of a text line.
#[derive(Clone)]
struct StaticFields {
    rendered: String,
    json: bool,
}

impl StaticFields {
    fn new(fields: &[(String, String)], json: bool) -> Self {
        let rendered = if json {
            fields
                .iter()
                .map(|(k, v)| format!("{}:{},", json_string(k), json_string(v)))
                .collect()
        } else {
            fields.iter().map(|(k, v)| format!(" {k}={v:?}")).collect()
        };
        StaticFields { rendered, json }
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl<'a> MakeWriter<'a> for StaticFields {
    type Writer = LineWriter<'a>;
    fn make_writer(&'a self) -> Self::Writer {
        LineWriter { fields: self }
    }
}

/// The formatter hands each complete line to one `write` call.
struct LineWriter<'a> {
    fields: &'a StaticFields,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        let mut err = io::stderr().lock();
        let extra = self.fields.rendered.as_bytes();
        if extra.is_empty() {
            err.write_all(line)?;
        } else if self.fields.json && line.first() == Some(&b'{') {
            err.write_all(b"{")?;
            err.write_all(extra)?;
            err.write_all(&line[1..])?;
        } else if let Some(body) = line.strip_suffix(b"\n") {
            err.write_all(body)?;
            err.write_all(extra)?;
            err.write_all(b"\n")?;
        } else {
            err.write_all(line)?;
        }
        Ok(line.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}
