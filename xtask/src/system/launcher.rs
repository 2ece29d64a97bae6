//! Waypoint as separate release processes on the run's slice of the local servers: started one
//! by one, each timed from spawn to `/health/ready`, killed and restarted on demand, measured
//! (resident set, CPU time), and removed with everything the run made.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;

use super::programs::{Build, ProcessSpec, Program, free_ports, local_url};
use super::{RunNames, teardown};
use crate::bench::harness::{cpu_s, program_command, rss_mb, stop};

/// How long one process may take to become ready: generous, because a cold start on a busy
/// 2-core machine can be slow; the poll returns as soon as it is ready.
const START_DEADLINE: Duration = Duration::from_secs(60);
/// Short, because start-up times are measured with it.
const READY_POLL: Duration = Duration::from_millis(5);
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// Which build the run's processes are, and how they log.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub build: Build,
    /// `RUST_LOG` of every process.
    pub log_filter: &'static str,
}

/// The running system.
#[derive(Debug)]
pub struct System {
    root: PathBuf,
    names: RunNames,
    /// `target/system/<run>/`: each process's log, and the settings files of the run.
    dir: PathBuf,
    options: Options,
    http: reqwest::Client,
    processes: Vec<Process>,
}

#[derive(Debug)]
struct Process {
    spec: ProcessSpec,
    port: u16,
    child: Option<Child>,
    /// From spawn to the first 200 of `/health/ready`, at its latest start.
    ready_after: Duration,
}

impl System {
    /// Starts `specs` one after the other, each once the one before is ready, runs `work` on
    /// the system, and then stops every process and removes the run's databases, broker
    /// objects, Redis keys and bucket, whether the start or `work` failed or not.
    pub async fn run<T>(
        root: &Path,
        names: RunNames,
        options: Options,
        specs: Vec<ProcessSpec>,
        work: impl AsyncFnOnce(&mut System) -> Result<T>,
    ) -> Result<T> {
        let mut system = Self::prepare(root, names, options)?;
        eprintln!(
            "starting {} processes; their logs are in {}",
            specs.len(),
            system.dir.display()
        );
        let outcome = async {
            let ports = free_ports(specs.len())?;
            for (spec, port) in specs.into_iter().zip(ports) {
                system.start(spec, port).await?;
            }
            work(&mut system).await
        }
        .await;
        let torn_down = system.tear_down().await;
        let value = outcome?;
        torn_down?;
        Ok(value)
    }

    /// The run's folder, with the settings every gateway of the run shares.
    fn prepare(root: &Path, names: RunNames, options: Options) -> Result<Self> {
        let dir = crate::target_dir(root).join("system").join(names.run());
        let gateway_config = config_dir(&dir, &Program::Gateway);
        fs::create_dir_all(&gateway_config)
            .with_context(|| format!("could not create {}", gateway_config.display()))?;
        fs::write(gateway_config.join("local.toml"), gateway_settings()?)?;
        Ok(Self {
            root: root.to_path_buf(),
            names,
            dir,
            options,
            http: reqwest::Client::builder().timeout(READY_TIMEOUT).build()?,
            processes: Vec::new(),
        })
    }

    pub fn names(&self) -> &RunNames {
        &self.names
    }

    /// Every process of the run, running or killed, in start order.
    pub fn specs(&self) -> impl Iterator<Item = &ProcessSpec> {
        self.processes.iter().map(|process| &process.spec)
    }

    async fn start(&mut self, spec: ProcessSpec, port: u16) -> Result<Duration> {
        self.processes.push(Process {
            spec,
            port,
            child: None,
            ready_after: Duration::ZERO,
        });
        let index = self.processes.len() - 1;
        self.launch(index).await
    }

    /// Spawns the process at `index` and waits until it is ready.
    async fn launch(&mut self, index: usize) -> Result<Duration> {
        let process = &self.processes[index];
        let name = process.spec.name.clone();
        let log = self.log_of(&name);
        let mut command = program_command(
            &self.root,
            self.options.build,
            process.spec.program.binary(),
            crate::cmd::open_log(&log)?,
        )?;
        // Nothing from the caller's environment may point a process outside the run.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("WAYPOINT") {
                command.env_remove(key);
            }
        }
        command
            .envs(process.spec.program.env(&self.names, process.port))
            .envs(process.spec.program.shared_server_env())
            .env("RUST_LOG", self.options.log_filter)
            .env("WAYPOINT_ENV", "local")
            .env(
                "WAYPOINT_CONFIG_DIR",
                config_dir(&self.dir, &process.spec.program),
            )
            .current_dir(&self.dir);
        let spawned = Instant::now();
        let child = command
            .spawn()
            .with_context(|| format!("could not start {name}"))?;
        self.processes[index].child = Some(child);
        self.wait_ready(index, spawned).await?;
        let ready_after = spawned.elapsed();
        self.processes[index].ready_after = ready_after;
        Ok(ready_after)
    }

    /// Polls the process's `/health/ready` until it answers 200, failing as soon as the process
    /// has exited or [`START_DEADLINE`] after `since`.
    async fn wait_ready(&mut self, index: usize, since: Instant) -> Result<()> {
        let name = self.processes[index].spec.name.clone();
        let log = self.log_of(&name);
        let ready_url = format!("{}/health/ready", local_url(self.processes[index].port));
        loop {
            if let Some(status) = self.child_mut(index)?.try_wait()? {
                bail!("{name} exited ({status}); see {}", log.display());
            }
            let ready = self.http.get(&ready_url).send().await;
            if ready.is_ok_and(|response| response.status() == reqwest::StatusCode::OK) {
                return Ok(());
            }
            if since.elapsed() > START_DEADLINE {
                bail!(
                    "{name} was not ready after {START_DEADLINE:?}; see {}",
                    log.display()
                );
            }
            tokio::time::sleep(READY_POLL).await;
        }
    }

    /// Waits until every running process is ready (again, after the broker came back, say).
    pub async fn wait_all_ready(&mut self) -> Result<()> {
        let since = Instant::now();
        for index in 0..self.processes.len() {
            if self.processes[index].child.is_some() {
                self.wait_ready(index, since).await?;
            }
        }
        Ok(())
    }

    fn log_of(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.log"))
    }

    fn index_of(&self, name: &str) -> Result<usize> {
        self.processes
            .iter()
            .position(|process| process.spec.name == name)
            .with_context(|| format!("no process called {name} in the run"))
    }

    fn child_mut(&mut self, index: usize) -> Result<&mut Child> {
        let process = &mut self.processes[index];
        process
            .child
            .as_mut()
            .with_context(|| format!("{} is not running", process.spec.name))
    }

    /// SIGKILL: no shutdown of any kind, as a crash or an OOM kill would end it.
    pub fn kill(&mut self, name: &str) -> Result<()> {
        let index = self.index_of(name)?;
        let mut child = self.processes[index]
            .child
            .take()
            .with_context(|| format!("{name} is not running"))?;
        child.kill()?;
        child.wait()?;
        Ok(())
    }

    /// Starts a killed process again, on its port; how long it took to be ready.
    pub async fn restart(&mut self, name: &str) -> Result<Duration> {
        let index = self.index_of(name)?;
        if self.processes[index].child.is_some() {
            bail!("{name} is still running");
        }
        self.launch(index).await
    }

    /// `http://127.0.0.1:<port>` of a process.
    pub fn url(&self, name: &str) -> Result<String> {
        Ok(local_url(self.processes[self.index_of(name)?].port))
    }

    pub fn gateway_url(&self) -> Result<String> {
        self.url("gateway")
    }

    /// Each running process by name, with its pid.
    pub fn pids(&self) -> Vec<(String, u32)> {
        self.processes
            .iter()
            .filter_map(|process| Some((process.spec.name.clone(), process.child.as_ref()?.id())))
            .collect()
    }

    /// Each process's spawn-to-ready time at its latest start.
    pub fn startup_times(&self) -> Vec<(String, Duration)> {
        self.processes
            .iter()
            .map(|process| (process.spec.name.clone(), process.ready_after))
            .collect()
    }

    /// The resident sets of every running process, summed.
    pub fn rss_mb_total(&self) -> Result<f64> {
        self.pids().into_iter().map(|(_, pid)| rss_mb(pid)).sum()
    }

    /// The CPU time each running process has used so far, in seconds.
    pub fn cpu_s(&self) -> Result<Vec<(String, f64)>> {
        self.pids()
            .into_iter()
            .map(|(name, pid)| Ok((name, cpu_s(pid)?)))
            .collect()
    }

    /// Stops the processes, the gateway first, then removes what the run made. Logs stay.
    async fn tear_down(&mut self) -> Result<()> {
        while let Some(process) = self.processes.pop() {
            if let Some(mut child) = process.child {
                let name = process.spec.name;
                tokio::task::spawn_blocking(move || stop(&name, &mut child)).await?;
            }
        }
        teardown::remove(&self.root, &self.names).await
    }
}

impl Drop for System {
    /// Only after a panic are processes still running here; they must not outlive xtask.
    fn drop(&mut self) {
        for process in &mut self.processes {
            if let Some(child) = process.child.as_mut() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// Where a program's settings files are looked for: one folder per program, so that every
/// instance of a program reads the same files and no program reads another's.
fn config_dir(run_dir: &Path, program: &Program) -> PathBuf {
    run_dir.join("config").join(program.binary())
}

/// The gateway's signing key for the run: without one, each gateway start would sign with a
/// key of its own, and a restarted gateway would refuse every token issued before.
fn gateway_settings() -> Result<String> {
    let key = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|error| anyhow::anyhow!("encoding the run's signing key: {error}"))?;
    Ok(format!(
        "[auth]\nsigning_keys = ['''\n{}''']\n",
        pem.as_str()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gateway_settings_hold_one_pem_key() {
        let settings: toml::Table = toml::from_str(&gateway_settings().unwrap()).unwrap();
        let keys = settings["auth"]["signing_keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1);
        let pem = keys[0].as_str().unwrap().trim();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");
        assert!(pem.ends_with("-----END PRIVATE KEY-----"), "{pem}");
    }
}
