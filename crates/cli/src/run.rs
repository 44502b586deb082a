//! Dispatch: each command reads its inputs (profile, identity, phrase),
//! calls one library function, and prints the result as text or JSON.

use crate::cli::{Admin, Approve, Audit, CeremonyArgs, Cli, Command, Dev, DevNode, Employee, Flow, Keyholder};
use crate::error::{CliError, CliResult};
use crate::keyholder::{CeremonyOptions, PhraseNeeded};
use crate::profile::{IdentityChoice, Profile};
use crate::session::Session;
use crate::ui::{Paint, Ui};
use crate::{admin, approver, assets, audit, backup, ceremony, employee, flowfile, keyholder, status, transfers};
use box_core::address::parse_address;
use box_core::keys::Phrase;
use std::time::Duration;

/// The environment variable holding a key holder's phrase (automation).
pub const ENV_PHRASE: &str = "BOX_PHRASE";

/// Runs one command line.
pub async fn run(cli: Cli) -> CliResult<()> {
    let ui = Ui::detect(cli.json);
    let choice = IdentityChoice { name: cli.as_identity.clone(), keystore: cli.key.clone() };
    let profile = || Profile::locate(cli.profile.as_deref());
    let session = || -> CliResult<Session> { Session::open(profile()?, &choice) };
    match cli.command {
        Command::Keyholder(k) => keyholder_cmd(&ui, k, session).await,
        Command::Admin(a) => admin_cmd(&ui, a, session()?).await,
        Command::Employee(Employee::FetchKey { address, out }) => {
            let address = parse_address(&address).map_err(|e| CliError::usage(format!("--address: {e}")))?;
            let profile = profile()?;
            let password = match std::env::var(crate::profile::ENV_PASSWORD) {
                Ok(p) => zeroize::Zeroizing::new(p),
                Err(_) => crate::ui::prompt_secret("Password the admin gave you: ")?,
            };
            let spin = ui.spinner("downloading and decrypting the key");
            let key = employee::fetch_key(&profile, address, &password, &out).await?;
            drop(spin);
            if ui.json {
                return ui.json(&serde_json::json!({ "address": key.address(), "keystore": out }));
            }
            ui.done(&format!("the key of {} is stored in {} (mode 0600)", key.address(), out.display()));
            ui.line("Add it to your profile as an identity, e.g.:");
            ui.line(&format!("  [identities.me]\n  keystore = \"{}\"", out.display()));
            Ok(())
        }
        Command::Employee(e) => employee_cmd(&ui, e, session()?).await,
        Command::Approve(a) => approve_cmd(&ui, a, session()?).await,
        Command::Key(k) => crate::key::run(&ui, k),
        Command::Genesis(g) => crate::genesis::run(&ui, g).await,
        Command::Status => {
            let s = session()?;
            let spin = ui.spinner("asking the gateway, the cluster and the signer");
            let st = status::status(&s).await?;
            drop(spin);
            ui.emit(&st, || status::print(&ui, &st))
        }
        Command::Governance(g) => crate::governance_cmd::governance_cmd(&ui, g, &session()?).await,
        Command::Node(n) => crate::node_cmd::node_cmd(&ui, n, session).await,
        Command::Audit(Audit::Export { out }) => {
            let s = session()?;
            let spin = ui.spinner("exporting the history");
            let e = audit::export(&s, &out).await?;
            drop(spin);
            ui.emit(&e, || ui.done(&format!("{} blocks written to {}", e.blocks, e.file)))
        }
        Command::Audit(Audit::Follow { out, once, every, bootstrap_from, ca, cert, cert_key }) => {
            let bootstrap = match (bootstrap_from.is_empty(), ca, cert, cert_key) {
                (true, ..) => None,
                (false, Some(ca), Some(cert), Some(key)) => Some(crate::audit_follow::Bootstrap {
                    nodes: bootstrap_from,
                    tls: box_proto::TlsMaterial::load(&ca, &cert, &key).map_err(CliError::usage)?,
                }),
                _ => return Err(CliError::usage("--bootstrap-from needs --ca, --cert and --cert-key")),
            };
            if !once {
                let every = Duration::from_secs(every.max(1));
                return crate::audit_follow::follow(&ui, &session()?, &out, every, bootstrap.as_ref()).await;
            }
            let f = crate::audit_follow::follow_once(&session()?, &out, bootstrap.as_ref()).await?;
            ui.emit(&f, || {
                crate::audit_follow::tell_bootstrap(&ui, &f);
                ui.done(&format!("verified up to block {} (from {}); state {}", f.height, f.resumed_from, f.state_hash))
            })
        }
        Command::Audit(Audit::Report { file, from, to, csv }) => {
            crate::audit_report::run(&ui, &profile, &session, file, (from, to), csv).await
        }
        Command::Audit(Audit::Verify { file, genesis }) => {
            let g = match genesis {
                Some(p) => crate::profile::read_genesis(&p)?,
                None => profile()?.genesis,
            };
            let spin = ui.spinner("verifying every block, signature and certificate");
            let v = audit::verify(&file, &g)?;
            drop(spin);
            if ui.json {
                return ui.json(&v);
            }
            ui.done(&format!(
                "the history verifies: {} blocks, {} entries, {} subjects notarized, {} rejected",
                v.blocks, v.entries, v.notarized, v.rejected
            ));
            ui.line(&format!("state hash {}", v.state_hash));
            Ok(())
        }
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "boxctl", &mut std::io::stdout());
            Ok(())
        }
        Command::Dev(Dev::Up(d)) => dev_failed(crate::dev::up(dev_args(d, cli.json)).await),
        Command::Dev(Dev::Down(d)) => dev_failed(
            crate::dev::down(crate::dev::DevArgs { dir: d.dir, programs: Default::default(), json: cli.json }).await,
        ),
        Command::Dev(Dev::Node(DevNode::Add(d))) => dev_failed(crate::dev::node::add(dev_args(d, cli.json)).await),
        Command::Dev(Dev::Node(DevNode::Remove { id, dev })) => {
            dev_failed(crate::dev::node::remove(dev_args(dev, cli.json), id).await)
        }
        Command::Demo(d) => dev_failed(crate::dev::demo(dev_args(d, cli.json)).await),
    }
}

fn dev_args(d: crate::cli::DevRunArgs, json: bool) -> crate::dev::DevArgs {
    crate::dev::DevArgs { dir: d.dir, programs: crate::dev::Programs { bin_dir: d.bin_dir, anvil: d.anvil }, json }
}

/// The local deployment's and the demo's failures (their own error type) as a failure of boxctl.
fn dev_failed<T, E: std::fmt::Display>(r: Result<T, E>) -> CliResult<()> {
    r.map(|_| ()).map_err(|e| CliError::failed(e.to_string()))
}

fn options(c: &CeremonyArgs) -> CeremonyOptions {
    CeremonyOptions {
        device_id: c.device_id.clone().unwrap_or_else(ceremony::default_device_id),
        wait: Duration::from_secs(c.wait),
    }
}

/// Reads a phrase from `BOX_PHRASE`, else from the terminal without echo
/// (twice when `confirm`, since a typo would be fatal).
pub fn read_phrase(confirm: bool) -> CliResult<Phrase> {
    if let Ok(p) = std::env::var(ENV_PHRASE) {
        return Ok(Phrase::new(p));
    }
    let first =
        crate::ui::prompt_secret("Your phrase: ").map_err(|e| CliError::usage(format!("{e} (or set {ENV_PHRASE})")))?;
    if confirm {
        let again = crate::ui::prompt_secret("The same phrase again: ")?;
        if *again != *first {
            return Err(CliError::usage("the two phrases differ; nothing was sent"));
        }
    }
    Ok(Phrase::new(first.as_str()))
}

fn print_signer(ui: &Ui, v: &ceremony::SignerView, what: &str) -> CliResult<()> {
    if ui.json {
        return ui.json(v);
    }
    ui.done(what);
    ui.line(&format!(
        "signer: {}{}",
        v.state_text,
        if v.detail.is_empty() { String::new() } else { format!(" ({})", v.detail) }
    ));
    if let Some(w) = &v.wallet {
        ui.line(&format!("hot wallet: {w}"));
    }
    Ok(())
}

async fn keyholder_cmd(ui: &Ui, k: Keyholder, session: impl FnOnce() -> CliResult<Session>) -> CliResult<()> {
    if let Keyholder::Backup { d, out, no_print } = k {
        // Offline: needs neither the profile nor a key.
        let d = backup::parse_d(&d)?;
        let phrase = read_phrase(true)?;
        let files = backup::write(&out, &phrase, &d)?;
        if ui.json {
            return ui.json(&files);
        }
        if !no_print {
            ui.line(&ui.paint(Paint::Bold, "your phrase:"));
            ui.line(&backup::terminal(phrase.expose().as_bytes())?);
            ui.line(&ui.paint(Paint::Bold, "d:"));
            ui.line(&backup::terminal(format!("0x{}", hex::encode(d)).as_bytes())?);
        }
        for f in &files.files {
            ui.line(&format!("  {}", f.display()));
        }
        ui.done(&format!("paper backup written to {} (files mode 0600)", files.dir.display()));
        ui.warn("these files hold your phrase in the clear: print them, keep the paper in two bank safes, then delete the files");
        return Ok(());
    }
    let s = session()?;
    match k {
        Keyholder::Governed(g) => crate::governance_cmd::keyholder(ui, g, &s).await,
        Keyholder::Enrol { code, ceremony } => {
            let spin = ui.spinner("enrolling this device with the signer");
            let v = keyholder::enrol(&s, &code, &options(&ceremony)).await?;
            drop(spin);
            print_signer(ui, &v, "this device is enrolled")
        }
        Keyholder::Phrase { ceremony } => {
            let a = ceremony::require_announcement(&s).await?;
            let needed = keyholder::phrase_needed(&a);
            if needed == PhraseNeeded::None {
                return print_signer(
                    ui,
                    &ceremony::SignerView::from(&a),
                    "the signer is already unsealed; nothing sent",
                );
            }
            let phrase = read_phrase(needed == PhraseNeeded::Genesis)?;
            let spin = ui.spinner("sending the sealed phrase and waiting for the signer");
            let v = keyholder::send_phrase(&s, &phrase, &options(&ceremony)).await?;
            drop(spin);
            print_signer(ui, &v, "the signer took your phrase")
        }
        Keyholder::Authorize { flow, replaces: Some(old), yes, typed_data: false, .. } => {
            crate::flow_change::run_authorize(ui, &s, &flow, &old, yes).await
        }
        Keyholder::Authorize { flow, disable, typed_data: true, .. } => {
            let hash = admin::parse_flow_hash(&flow)?;
            crate::typed_data::print(&crate::typed_data::authorization(&s, hash, !disable).await?)
        }
        Keyholder::Authorize { flow, disable, yes, .. } => {
            let hash = admin::parse_flow_hash(&flow)?;
            let (out, f) = keyholder::verified_flow(&s, hash).await?;
            if !ui.json {
                let book = assets::load(&s).await?;
                ui.line(&format!("flow {} ({}), status {}", out.hash, f.name, out.status));
                ui.line(&flowfile::to_toml(&f, &book));
            }
            let verb = if disable { "disable" } else { "enable" };
            if !yes && crate::ui::interactive() && !crate::ui::confirm(&format!("Sign {verb}({})?", out.hash))? {
                return Err(CliError::usage("not signed"));
            }
            let q = keyholder::authorize(&s, hash, !disable).await?;
            ui.emit(&q, || ui.done(&format!("{verb}({hash}) signed and relayed (subject {})", q.subject_id)))
        }
        Keyholder::Pause { reason, typed_data: true } => {
            crate::typed_data::print(&crate::typed_data::pause(&s, &reason)?)
        }
        Keyholder::Pause { reason, .. } => {
            let g = keyholder::pause(&s, &reason).await?;
            ui.emit(&g, || ui.done(&format!("{} signed and relayed", g.description)))
        }
        Keyholder::Resume => {
            let g = keyholder::resume(&s).await?;
            if ui.json {
                return ui.json(&g);
            }
            if g.relay.is_some() {
                ui.done("resume signed by every key holder and relayed");
            } else {
                ui.done(&format!(
                    "resume signed ({} of {} key holders so far; the others run `boxctl keyholder resume`)",
                    g.signers.len(),
                    s.genesis().keyHolders.len()
                ));
            }
            Ok(())
        }
        Keyholder::Panic { yes, ceremony } => {
            if !yes
                && crate::ui::interactive()
                && !crate::ui::confirm("Lock the signer now? All key holders must unseal again.")?
            {
                return Err(CliError::usage("not sent"));
            }
            let spin = ui.spinner("sending the panic command");
            let v = keyholder::panic(&s, &options(&ceremony)).await?;
            drop(spin);
            print_signer(ui, &v, "the signer is locked")
        }
        Keyholder::Endorse { slot, device } => {
            let device =
                box_core::address::parse_address(&device).map_err(|e| CliError::usage(format!("--device: {e}")))?;
            let e = keyholder::endorse(&s, slot, device).await?;
            ui.emit(&e, || {
                ui.done(&format!("endorsed {} for key holder {} (signer boot {})", e.device, e.slot, e.boot));
                ui.line(&format!("endorsement: {}", e.endorsement));
                ui.line(&format!(
                    "key holder {} runs, with the new device's key: boxctl keyholder reenrol --slot {} --endorsement {}",
                    e.slot, e.slot, e.endorsement
                ));
                ui.line("it holds until the signer restarts, and only for that device and slot");
            })
        }
        Keyholder::Reenrol { slot, endorsement, ceremony } => {
            let phrase = read_phrase(false)?;
            let spin = ui.spinner("re-enrolling this device");
            let v = keyholder::reenrol(&s, slot, &phrase, &endorsement, &options(&ceremony)).await?;
            drop(spin);
            print_signer(ui, &v, &format!("this device is enrolled for key holder {slot}"))
        }
        Keyholder::Backup { .. } => Ok(()),
    }
}

fn print_flow_list(ui: &Ui, flows: &[box_api::FlowOut]) -> CliResult<()> {
    use box_api::FlowState;
    if ui.json {
        return ui.json(&flows);
    }
    if flows.is_empty() {
        ui.line("no flows");
    }
    for f in flows {
        let word = f.status.as_str();
        let status = match f.status {
            FlowState::Active => ui.paint(Paint::Green, word),
            FlowState::Rejected | FlowState::Refused | FlowState::Disabled => ui.paint(Paint::Red, word),
            _ => ui.paint(Paint::Yellow, word),
        };
        let flow = &f.flow.0;
        ui.line(&format!(
            "{} {:<11} {} ({} levels, {} employees)",
            f.hash,
            status,
            flow.name,
            flow.levels.len(),
            flow.employees.len()
        ));
    }
    Ok(())
}

async fn admin_cmd(ui: &Ui, a: Admin, s: Session) -> CliResult<()> {
    match a {
        Admin::Register { address, name, roles } => {
            let address = parse_address(&address).map_err(|e| CliError::usage(format!("--address: {e}")))?;
            let roles = roles.iter().map(|r| admin::parse_role(r)).collect::<CliResult<Vec<_>>>()?;
            let p = admin::register(&s, address, &name, &roles).await?;
            let roles: Vec<&str> = p.roles.iter().map(|r| r.as_str()).collect();
            ui.emit(&p, || ui.done(&format!("{} registered as {} ({})", p.address, p.name, roles.join(", "))))
        }
        Admin::People => {
            let people = admin::people(&s).await?;
            if ui.json {
                return ui.json(&people);
            }
            for p in &people {
                let roles: Vec<&str> = p.roles.iter().map(|r| r.as_str()).collect();
                ui.line(&format!("{} {:<24} {}", p.address, p.name, roles.join(", ")));
            }
            Ok(())
        }
        Admin::IssueKey { name, roles, out } => {
            let roles = if roles.is_empty() { vec!["employee".to_owned()] } else { roles };
            let roles = roles.iter().map(|r| admin::parse_role(r)).collect::<CliResult<Vec<_>>>()?;
            if let Some(o) = &out
                && o.exists()
            {
                return Err(CliError::usage(format!("{} already exists; refusing to overwrite it", o.display())));
            }
            let spin = ui.spinner("generating and encrypting the key");
            let k = admin::issue_key(&s, &name, &roles).await?;
            drop(spin);
            if let Some(o) = &out {
                let text = serde_json::to_vec_pretty(&k.keystore).map_err(|e| CliError::failed(e.to_string()))?;
                crate::files::write_private(o, &text)?;
            }
            if ui.json {
                // What the person needs, once: a script that issues keys must be able to hand
                // the password over (the escrow is encrypted under it; nobody else has it).
                // Only on stdout; never in a file or a log.
                return ui.json(&serde_json::json!({
                    "address": k.address,
                    "password": k.password.as_str(),
                    "keystoreFile": out,
                    "person": k.person,
                }));
            }
            ui.done(&format!("key issued for {name}: {}", k.address));
            ui.line("The encrypted key (keystore v3) is parked at the gateway. Give the person, offline:");
            if let Some(o) = &out {
                ui.line(&format!("  (a copy of the encrypted file is in {})", o.display()));
            }
            ui.line(&format!("  address:  {}", k.address));
            ui.line(&format!("  password: {}", ui.paint(Paint::Bold, &k.password)));
            ui.warn("the password is shown this once and stored nowhere; the person fetches the key with `boxctl employee fetch-key`");
            Ok(())
        }
        Admin::Flow(Flow::Create { file, submit }) => {
            let text = std::fs::read_to_string(&file).map_err(|e| CliError::io("read", &file, &e))?;
            let f = admin::create_flow_file(&s, &text).await?;
            let hash = f.hash;
            let queued = if submit { Some(admin::submit_flow(&s, hash).await?) } else { None };
            if ui.json {
                return ui.json(&serde_json::json!({ "flow": f, "submitted": queued }));
            }
            ui.done(&format!("flow {:?} drafted: {}", f.flow.0.name, f.hash));
            match queued {
                Some(q) => ui.done(&format!("submitted for notarization (subject {})", q.subject_id)),
                None => ui.line(&format!("submit it with `boxctl admin flow submit {}`", f.hash)),
            }
            Ok(())
        }
        Admin::Flow(Flow::Submit { hash }) => {
            let q = admin::submit_flow(&s, admin::parse_flow_hash(&hash)?).await?;
            ui.emit(&q, || ui.done(&format!("submitted for notarization (subject {})", q.subject_id)))
        }
        Admin::Flow(Flow::ReplaceApprover { hash, approver, successor, submit }) => {
            crate::flow_change::run_replace(ui, &s, &hash, (&approver, &successor), submit).await
        }
        Admin::Flow(Flow::List) => print_flow_list(ui, &admin::flows(&s).await?),
        Admin::Flow(Flow::Show { hash }) => {
            let (out, f) = keyholder::verified_flow(&s, admin::parse_flow_hash(&hash)?).await?;
            if ui.json {
                return ui.json(&out);
            }
            let book = assets::load(&s).await?;
            ui.line(&format!("# flow {} — {}", out.hash, out.status));
            if !out.enabled_by.is_empty() {
                let who: Vec<String> = out.enabled_by.iter().map(|a| a.to_checksum(None)).collect();
                ui.line(&format!("# enabled by {}", who.join(", ")));
            }
            ui.line(&flowfile::to_toml(&f, &book));
            Ok(())
        }
    }
}

async fn employee_cmd(ui: &Ui, e: Employee, s: Session) -> CliResult<()> {
    match e {
        Employee::Apply { asset, to, amount, flow, max_fee, yes, typed_data } => {
            let flow = flow.as_deref().map(admin::parse_flow_hash).transpose()?;
            let args = employee::ApplyArgs { asset, to, amount, flow, max_fee };
            let app = employee::prepare(&s, &args).await?;
            if typed_data {
                return crate::typed_data::print(&crate::typed_data::application(&s, &app.request)?);
            }
            // On stderr, so --json output stays one document.
            eprintln!("{}", ui.paint(Paint::Bold, "to be signed:"));
            for line in app.summary() {
                eprintln!("  {line}");
            }
            if !yes && crate::ui::interactive() && !crate::ui::confirm("Sign and send this application?")? {
                return Err(CliError::usage("not signed"));
            }
            let t = employee::submit(&s, &app).await?;
            let book = assets::load(&s).await?;
            let v = transfers::view(&s.domain(), &t, &book, &transfers::flow_names(&s).await?)?;
            if ui.json {
                return ui.json(&v);
            }
            ui.done(&format!("applied for {} to {}", v.display_amount, v.to));
            transfers::print(ui, &v);
            Ok(())
        }
        Employee::List => {
            let list = employee::my_transfers(&s).await?;
            if ui.json {
                return ui.json(&list);
            }
            if list.is_empty() {
                ui.line("no transfers");
            }
            let book = assets::load(&s).await?;
            for t in &list {
                let amount = book.format(&t.asset, t.amount.units());
                ui.line(&format!("{} {:<20} {} to {}", t.id, t.status.state, amount, t.to.to_checksum(None)));
            }
            Ok(())
        }
        Employee::Show { id } => {
            let v = approver::show(&s, &approver::parse_transfer_id(&id)?).await?;
            ui.emit(&v, || transfers::print(ui, &v))
        }
        Employee::FetchKey { .. } => Ok(()),
    }
}

async fn approve_cmd(ui: &Ui, a: Approve, s: Session) -> CliResult<()> {
    match a {
        Approve::List => {
            let list = approver::pending(&s).await?;
            if ui.json {
                return ui.json(&list);
            }
            if list.is_empty() {
                ui.line("nothing waits for your approval");
            }
            let governed = s.client().await?.status().await?;
            for v in &list {
                transfers::print(ui, v);
                crate::governance::warn_governed(ui, &governed, v);
                ui.line("");
            }
            Ok(())
        }
        Approve::Yes { id, typed_data: true } => {
            crate::typed_data::print(&crate::typed_data::approval(&s, &approver::parse_transfer_id(&id)?).await?)
        }
        Approve::Yes { id, .. } => {
            let v = approver::approve(&s, &approver::parse_transfer_id(&id)?).await?;
            if ui.json {
                return ui.json(&v);
            }
            ui.done(&format!("approved {} to {}", v.display_amount, v.to));
            transfers::print(ui, &v);
            Ok(())
        }
        Approve::Reject { id, reason } => {
            let v = approver::reject(&s, &approver::parse_transfer_id(&id)?, &reason).await?;
            ui.emit(&v, || ui.done(&format!("rejected {} ({})", v.id, reason.trim())))
        }
    }
}
