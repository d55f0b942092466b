//! `redis-di`: the command-line tool of the rdi module (scaffold, deploy, status, trace, reset, monitor).
//!
//! It talks to Redis with the `redis` crate and never links the module crate, whose global allocator
//! is Redis's own.

mod args;
mod client;
mod cluster;
mod commands;
mod deploy;
mod engine;
mod error;
mod fanout;
mod monitor;
mod reply;
mod reset;
mod scaffold;
mod status;
mod table;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use args::{Cli, Command};
use client::Rdi;
use error::CliError;
use reply::{JOB, RECORD, RECORDS, TRACE};

/// Exit status of a command line that cannot run as written, the status clap gives its own parse
/// errors; any other failure exits 1.
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = check_command_line(&cli) {
        report(&e);
        return ExitCode::from(EXIT_USAGE);
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&e);
            ExitCode::FAILURE
        }
    }
}

/// Prints the one-line reason of a failure on stderr.
fn report(e: &CliError) {
    let reason = e.to_string();
    eprintln!("redis-di: {}", reason.lines().next().unwrap_or("failed"));
}

/// The mistakes of a command line that clap cannot see, found before anything is connected to,
/// read or written, so that they exit [`EXIT_USAGE`]. The same checks stay where the values are used.
fn check_command_line(cli: &Cli) -> Result<(), CliError> {
    let conn = &cli.conn;
    let connects = !matches!(cli.command, Command::Scaffold { .. });
    // clap ties --tls-cert and --tls-key together; `client` refuses them without --tls.
    if connects && !conn.tls && (conn.tls_ca.is_some() || conn.tls_cert.is_some()) {
        return Err(CliError::Usage(
            "--tls-ca, --tls-cert and --tls-key need --tls".into(),
        ));
    }
    match &cli.command {
        Command::Scaffold {
            db_type,
            preview: Some(name),
            ..
        } => scaffold::preview(*db_type, name).map(drop),
        Command::Scaffold {
            dir: None,
            preview: None,
            ..
        } => Err(CliError::Usage("give --dir or --preview".into())),
        Command::Status {
            live: true,
            interval,
        } => live_interval(*interval).map(drop),
        // An empty value given on the command line; an empty stdin is refused later (exit 1).
        Command::SetSecret {
            name,
            value: Some(value),
        } if value.is_empty() => commands::read_secret(name, Some(String::new())).map(drop),
        _ => Ok(()),
    }
}

fn owned(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

fn run(cli: Cli) -> Result<(), CliError> {
    let json = cli.json;
    // Commands that need no server.
    match &cli.command {
        Command::Scaffold {
            db_type,
            dir,
            preview,
            force,
            strategy: _,
        } => {
            return match (dir, preview) {
                (_, Some(name)) => {
                    print!("{}", scaffold::preview(*db_type, name)?);
                    Ok(())
                }
                (Some(dir), None) => {
                    let done = scaffold::write(*db_type, dir, *force)?;
                    for p in done.written {
                        println!("wrote {}", p.display());
                    }
                    Ok(())
                }
                (None, None) => Err(CliError::Usage("give --dir or --preview".into())),
            }
        }
        Command::Monitor { port, bind } => return monitor::run(&cli.conn, bind, *port),
        _ => {}
    }
    let rdi = Rdi::connect(&cli.conn)?;
    if fans_out(&cli.command) {
        let mut nodes = cluster::connect(rdi, &cli.conn)?;
        if nodes.is_cluster() {
            return on_every_primary(&mut nodes, cli.command, json);
        }
        let (_, rdi) = nodes.list.remove(0);
        return on_one(rdi, cli.command, json);
    }
    on_one(rdi, cli.command, json)
}

/// Commands that reach every primary of a cluster.
fn fans_out(command: &Command) -> bool {
    matches!(
        command,
        Command::Deploy { .. }
            | Command::Status { .. }
            | Command::Wait { .. }
            | Command::Start
            | Command::Stop
            | Command::SetSecret { .. }
            | Command::Undeploy { .. }
            | Command::Reset { .. }
    )
}

fn live_interval(interval: f64) -> Result<Duration, CliError> {
    Duration::try_from_secs_f64(interval)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| CliError::Usage("--interval must be a positive number of seconds".into()))
}

fn undeploy_args(force: bool) -> Vec<String> {
    let mut args = owned(&["RDI.UNDEPLOY"]);
    if force {
        args.push("FORCE".into());
    }
    args
}

fn on_every_primary(
    nodes: &mut cluster::Nodes,
    command: Command,
    json: bool,
) -> Result<(), CliError> {
    match command {
        Command::Deploy { dir, dry_run } => fanout::deploy(nodes, &dir, dry_run, json),
        Command::Status { live: false, .. } => fanout::status(nodes, json),
        Command::Status { interval, .. } => fanout::status_live(nodes, live_interval(interval)?),
        Command::Wait { timeout_ms } => fanout::wait(nodes, timeout_ms, json),
        Command::Start => fanout::simple(
            nodes,
            &owned(&["RDI.START"]),
            json,
            "writing to the targets",
        ),
        Command::Stop => fanout::simple(
            nodes,
            &owned(&["RDI.STOP"]),
            json,
            "stopped writing to the targets; capture goes on",
        ),
        Command::SetSecret { name, value } => fanout::set_secret(nodes, &name, value, json),
        Command::Undeploy { force } => {
            fanout::simple(nodes, &undeploy_args(force), json, "pipeline removed")
        }
        Command::Reset { job } => reset::run(&mut nodes.list, job.as_deref(), json),
        _ => Err(CliError::Usage(
            "this command does not reach every primary".into(),
        )),
    }
}

fn on_one(mut rdi: Rdi, command: Command, json: bool) -> Result<(), CliError> {
    if let Command::Reset { job } = &command {
        return reset::run(&mut [(String::new(), rdi)], job.as_deref(), json);
    }
    let rdi = &mut rdi;
    match command {
        Command::Scaffold { .. } | Command::Monitor { .. } => Ok(()),
        Command::Configure => engine::configure(rdi, json),
        Command::Upgrade => engine::upgrade(rdi, json),
        Command::Deploy { dir, dry_run } => deploy::run(rdi, &dir, dry_run, json),
        Command::Status { live: false, .. } => status::run(rdi, json),
        Command::Status {
            live: true,
            interval,
        } => status::live(rdi, live_interval(interval)?),
        Command::ListJobs => commands::show(
            rdi,
            &owned(&["RDI.LIST-JOBS"]),
            RECORDS,
            json,
            commands::render_jobs,
        ),
        Command::DescribeJob { name } => commands::show(
            rdi,
            &owned(&["RDI.DESCRIBE-JOB", &name]),
            JOB,
            json,
            commands::render_job,
        ),
        Command::GetRejected { job, count, oldest } => {
            let mut args = owned(&["RDI.GET-REJECTED"]);
            if let Some(j) = job {
                args.extend(["JOB".into(), j]);
            }
            if let Some(n) = count {
                args.extend(["COUNT".into(), n.to_string()]);
            }
            if oldest {
                args.push("OLDEST".into());
            }
            commands::show(rdi, &args, RECORDS, json, commands::render_rejected)
        }
        Command::Trace {
            count,
            timeout,
            rejected_only,
        } => {
            let mut args = owned(&["RDI.TRACE"]);
            if let Some(n) = count {
                args.extend(["COUNT".into(), n.to_string()]);
            }
            if let Some(s) = timeout {
                args.extend(["TIMEOUT".into(), s.to_string()]);
            }
            if rejected_only {
                args.push("REJECTED-ONLY".into());
            }
            commands::show(rdi, &args, TRACE, json, commands::render_trace)
        }
        Command::Reset { .. } => Ok(()),
        Command::Start => {
            commands::simple(rdi, &owned(&["RDI.START"]), json, "writing to the targets")
        }
        Command::Stop => commands::simple(
            rdi,
            &owned(&["RDI.STOP"]),
            json,
            "stopped writing to the targets; capture goes on",
        ),
        Command::Wait { timeout_ms } => {
            let mut args = owned(&["RDI.WAIT"]);
            if let Some(t) = timeout_ms {
                args.push(t.to_string());
            }
            commands::show(rdi, &args, RECORD, json, commands::render_wait)
        }
        Command::SetSecret { name, value } => commands::set_secret(rdi, &name, value, json),
        Command::Undeploy { force } => {
            commands::simple(rdi, &undeploy_args(force), json, "pipeline removed")
        }
    }
}
