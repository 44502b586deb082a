//! `boxctl demo`: the whole story against the local deployment, every step
//! through the gateway as the person who would do it, checked at the end
//! against the public chain. Exits non-zero when any step does not do what it
//! should.

use super::stack::{KEY_HOLDERS, Stack};
use super::up::{bring_up, interruptible};
use super::{DevArgs, DevError};
use box_api::Client;
use box_api::{FlowState, Role, TransferState};
use box_core::amount::Amount;
use box_core::ids::FlowHash;
use box_core::typed::{ApprovalLevel, AssetLimit, BoxFlow};
use box_core::{Address, B256, U256};
use rand_core::{OsRng, RngCore, UnwrapErr};
use std::time::{Duration, Instant};

fn unit() -> U256 {
    U256::from(10u64).pow(U256::from(18u64))
}

fn random_b256() -> B256 {
    let mut b = B256::ZERO;
    UnwrapErr(OsRng).fill_bytes(b.as_mut_slice());
    b
}

/// The story's steps, numbered as printed; the current one names a failure.
#[derive(Debug, Default)]
struct Steps(String);

impl Steps {
    fn begin(&mut self, n: usize, what: &str) {
        println!("\n[{n}/8] {what}");
        self.0 = format!("step {n}/8 ({what})");
    }
}

fn fail<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> DevError + '_ {
    move |e| DevError::new(format!("{what}: {e}"))
}

async fn poll<T, F, Fut>(what: &str, within: Duration, mut f: F) -> Result<T, DevError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, DevError>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f().await? {
            return Ok(v);
        }
        if Instant::now() > deadline {
            return Err(DevError::new(format!("timed out waiting for {what}")));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Registers `who` unless already registered with that role.
async fn register(admin: &Client, who: Address, name: &str, role: Role) -> Result<(), DevError> {
    match admin.register(who, name, &[role]).await {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some("already_registered") || e.code() == Some("conflict") => Ok(()),
        Err(e) => Err(DevError::new(format!("registering {name}: {e}"))),
    }
}

/// Waits for the flow to reach `want`, printing each status change once
/// (`last` is the status printed before, across calls).
async fn flow_status(
    client: &Client,
    hash: FlowHash,
    want: FlowState,
    last: &mut Option<FlowState>,
) -> Result<(), DevError> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let f = client.flow(hash).await.map_err(fail("flow status"))?;
        if Some(f.status) != *last {
            println!("      flow {}", f.status);
            *last = Some(f.status);
        }
        if f.status == want {
            return Ok(());
        }
        if f.status == FlowState::Rejected {
            return Err(DevError::new("the chain rejected the flow"));
        }
        if Instant::now() > deadline {
            return Err(DevError::new(format!("timed out waiting for the flow to become {want} (it is {})", f.status)));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One of the demo's own amounts.
fn decimal(s: &str) -> Result<box_core::amount::Decimal, DevError> {
    box_core::amount::Decimal::parse(s).map_err(|e| DevError::new(e.to_string()))
}

/// Applies, approves level by level, and waits for the public transaction.
async fn transfer(
    s: &Stack,
    applicant: &crate::Session,
    employee: &Client,
    flow: FlowHash,
    asset: &str,
    to: Address,
    amount: &str,
) -> Result<String, DevError> {
    let args = crate::employee::ApplyArgs {
        asset: asset.into(),
        to: to.to_checksum(None),
        amount: decimal(amount)?,
        flow: Some(flow),
        max_fee: decimal(crate::employee::DEFAULT_MAX_FEE)?,
    };
    let t = crate::employee::apply(applicant, &args).await.map_err(fail("applying"))?;
    println!("      employee applied for {amount} {asset} to {to}: transfer {}", t.id);
    for who in ["manager-1", "finance-1", "finance-2"] {
        crate::approver::approve(&s.session(who)?, &t.id).await.map_err(fail(&format!("{who} approving")))?;
        let t = employee.transfer(&t.id).await.map_err(fail("transfer status"))?;
        let done: Vec<String> =
            t.levels.iter().map(|l| format!("{} {}/{}", l.name, l.signatures.len(), l.threshold)).collect();
        println!("      {who} approved ({})", done.join(", "));
    }
    let mut last = None;
    let deadline = Instant::now() + Duration::from_secs(180);
    let tx = loop {
        let t = employee.transfer(&t.id).await.map_err(fail("transfer status"))?;
        if Some(t.status.state) != last {
            println!("      {}", t.status.state);
            last = Some(t.status.state);
        }
        match t.status.state {
            TransferState::Confirmed => break t.status.tx_hash.map(|h| h.to_string()).unwrap_or_default(),
            state if state.is_final() => {
                return Err(DevError::new(format!(
                    "the transfer ended {}: {}",
                    t.status.state,
                    t.status.reason.unwrap_or_default()
                )));
            }
            _ => {}
        }
        if Instant::now() > deadline {
            let now = last.map_or("unknown", TransferState::as_str);
            return Err(DevError::new(format!("timed out waiting for the transfer to be confirmed (it is {now})")));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    println!("      confirmed: public transaction {tx}");
    Ok(tx)
}

/// `boxctl demo`: brings the deployment in `args.dir` up when it is not
/// running (as `dev up`), then runs the story. If a step fails, the error
/// names it, and every process this run started is stopped again.
pub async fn demo(args: DevArgs) -> Result<(), DevError> {
    let dir = args.absolute_dir()?;
    let running = Stack::open(&dir)?.and_then(|s| {
        let up = s.state.pids.signer.is_some_and(|p| s.runs_here(p, "signer"))
            && s.state.pids.gateway.is_some_and(|p| s.runs_here(p, "gateway"));
        up.then_some(s)
    });
    let mut s = match running {
        Some(s) => s,
        None => {
            let s = bring_up(&DevArgs { json: false, ..args.clone() }).await?;
            super::up::summary(&s, &args);
            s
        }
    };
    let mut steps = Steps::default();
    match interruptible(story(&s, &mut steps)).await {
        Ok(()) => {
            s.started.keep();
            println!(
                "\nThe deployment stays up for you to explore (export BOX_PROFILE={}).\nStop it with: {} dev down --dir {}",
                s.dir.join(super::stack::PROFILE).display(),
                super::up::boxctl_command(),
                s.dir.display()
            );
            Ok(())
        }
        Err(e) => {
            let e = if steps.0.is_empty() { e } else { e.during(&steps.0) };
            Err(s.fail(e).await)
        }
    }
}

async fn story(s: &Stack, steps: &mut Steps) -> Result<(), DevError> {
    let chain = s.chain().await?;
    let wallet = s.state.wallet.ok_or_else(|| DevError::new("the deployment has no wallet yet"))?;
    let token = s.state.token;
    let admin = s.client("admin")?;

    steps.begin(1, "the admin registers the approvers and issues an employee key");
    for (who, name) in [
        ("manager-1", "Manager One"),
        ("manager-2", "Manager Two"),
        ("finance-1", "Finance One"),
        ("finance-2", "Finance Two"),
    ] {
        register(&admin, s.key(who)?.address(), name, Role::Approver).await?;
    }
    // Whitepaper steps A–E: a fresh key, a keystore v3 under a random
    // password (handed over offline), parked at the gateway with the hash of
    // a download token derived from the password, claimed once (unsigned)
    // and decrypted by the employee; from then on served only signed.
    let admin_session = s.session("admin")?;
    let profile = s.profile()?;
    let issued = crate::admin::issue_key(&admin_session, "Demo Employee", &[Role::Employee])
        .await
        .map_err(fail("issuing the employee key"))?;
    let keystore = s.dir.join("identities").join(format!("employee-{}.json", issued.address));
    let employee_key = crate::employee::fetch_key(&profile, issued.address, &issued.password, &keystore)
        .await
        .map_err(fail("fetching the employee key"))?;
    let employee_session =
        crate::Session::new(profile.clone(), employee_key.clone()).map_err(fail("the employee's session"))?;
    let employee = s.client_with(employee_key)?;
    let again = s.dir.join("identities").join(format!("employee-{}-again.json", issued.address));
    if crate::employee::fetch_key(&profile, issued.address, &issued.password, &again).await.is_ok() {
        return Err(DevError::new("the issued keystore could be downloaded unsigned a second time"));
    }
    employee.keystore(employee.address()).await.map_err(fail("reading the keystore back, signed"))?;
    println!(
        "      employee {} registered; the keystore was parked at the gateway, downloaded once with the password's token and decrypted (now served only to signed requests)",
        employee.address()
    );

    steps.begin(2, "a two-level flow: built, submitted, notarized, authorized by every key holder, anchored");
    let flow = BoxFlow {
        name: "demo payments".into(),
        employees: vec![employee.address()],
        levels: vec![
            ApprovalLevel {
                name: "Manager".into(),
                approvers: vec![s.key("manager-1")?.address(), s.key("manager-2")?.address()],
                threshold: 1,
            },
            ApprovalLevel {
                name: "Finance".into(),
                approvers: vec![s.key("finance-1")?.address(), s.key("finance-2")?.address()],
                threshold: 2,
            },
        ],
        limits: vec![
            AssetLimit {
                asset: Address::ZERO,
                perTransfer: U256::from(5u64) * unit(),
                perPeriod: U256::from(10u64) * unit(),
                periodSeconds: 86_400,
                maxFee: unit() / U256::from(10u64),
            },
            AssetLimit {
                asset: token,
                perTransfer: U256::from(1000u64) * unit(),
                perPeriod: U256::from(2000u64) * unit(),
                periodSeconds: 86_400,
                maxFee: unit() / U256::from(10u64),
            },
        ],
        nonce: UnwrapErr(OsRng).next_u64(),
        addressBookOnly: false,
    };
    let created = admin.create_flow(&flow).await.map_err(fail("drafting the flow"))?;
    let hash = created.hash;
    println!("      flow {hash}: Manager (1 of 2), then Finance (2 of 2); ETH ≤ 5 per transfer, BOXT ≤ 1000");
    admin.submit_flow(hash).await.map_err(fail("submitting the flow"))?;
    let mut last = None;
    flow_status(&admin, hash, FlowState::Notarized, &mut last).await?;
    for holder in KEY_HOLDERS {
        crate::keyholder::authorize(&s.session(holder)?, hash, true)
            .await
            .map_err(fail(&format!("{holder} authorizing")))?;
    }
    flow_status(&admin, hash, FlowState::Active, &mut last).await?;

    let alice = Address::from_word(random_b256());
    let bob = Address::from_word(random_b256());
    steps.begin(3, "balances before");
    let before = (chain.balance(wallet).await?, chain.token_balance(token, wallet).await?);
    println!("      hot wallet {wallet}: {} ETH, {} BOXT", Amount(before.0).format(18), Amount(before.1).format(18));

    steps.begin(4, "1.5 ETH: applied, approved level by level, notarized, verified and signed, confirmed");
    let eth_amount = U256::from(15u64) * unit() / U256::from(10u64);
    let eth_tx = transfer(s, &employee_session, &employee, hash, "ETH", alice, "1.5").await?;

    steps.begin(5, "250 BOXT (ERC-20): the same path");
    let tok_amount = U256::from(250u64) * unit();
    let tok_tx = transfer(s, &employee_session, &employee, hash, "BOXT", bob, "250").await?;

    steps.begin(6, "over the limit: 7 ETH (the flow allows 5 per transfer) must be refused");
    let over = crate::employee::ApplyArgs {
        asset: "ETH".into(),
        to: alice.to_checksum(None),
        amount: decimal("7")?,
        flow: Some(hash),
        max_fee: decimal(crate::employee::DEFAULT_MAX_FEE)?,
    };
    let reason = match crate::employee::apply(&employee_session, &over).await {
        Err(crate::CliError::Refused { code, message }) => format!("{message} ({code})"),
        Err(e) => e.to_string(),
        Ok(t) => {
            let id = t.id;
            poll("the refusal", Duration::from_secs(120), || async {
                let t = employee.transfer(&id).await.map_err(fail("transfer status"))?;
                Ok(match t.status.state {
                    TransferState::Confirmed | TransferState::Broadcast => {
                        return Err(DevError::new("an over-limit transfer was executed"));
                    }
                    s @ (TransferState::Rejected | TransferState::Refused | TransferState::RefusedByChain) => {
                        t.status.reason.or(Some(s.to_string()))
                    }
                    _ => None,
                })
            })
            .await?
        }
    };
    if !reason.contains("limit") {
        return Err(DevError::new(format!("the over-limit transfer was refused for another reason: {reason}")));
    }
    println!("      refused: {reason}");

    steps.begin(7, "balances after");
    let after = (chain.balance(wallet).await?, chain.token_balance(token, wallet).await?);
    println!("      hot wallet: {} ETH, {} BOXT", Amount(after.0).format(18), Amount(after.1).format(18));
    let (alice_eth, bob_tok) = (chain.balance(alice).await?, chain.token_balance(token, bob).await?);
    println!("      {alice}: {} ETH", Amount(alice_eth).format(18));
    println!("      {bob}: {} BOXT", Amount(bob_tok).format(18));
    if alice_eth != eth_amount || bob_tok != tok_amount {
        return Err(DevError::new("the recipients did not receive exactly the approved amounts"));
    }
    if before.1 - after.1 != tok_amount || before.0 - after.0 < eth_amount {
        return Err(DevError::new("the hot wallet's balances did not move by the approved amounts"));
    }

    steps.begin(8, "done");
    println!("      public transactions: 1.5 ETH {eth_tx}");
    println!("                           250 BOXT {tok_tx}");
    // One file per run (the demo may run again on the same deployment; an
    // export is never overwritten).
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let export = s.dir.join(format!("audit-export-{now}.json"));
    crate::audit::export(&admin_session, &export).await.map_err(fail("exporting the history"))?;
    let v = crate::audit::verify(&export, &s.genesis).map_err(fail("verifying the exported history"))?;
    println!(
        "      the history verifies offline against the genesis alone: {} blocks, {} notarized subjects with valid certificates ({})",
        v.blocks,
        v.notarized,
        export.display()
    );
    Ok(())
}
