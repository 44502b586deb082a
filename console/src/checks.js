// What the browser checks before it signs, as box_gateway::Client does for
// boxctl: the request hashes to the transfer id, the applicant signed it,
// the flow shown is the one the request names, every signature of the closed
// levels is by a distinct approver of that level, and `below` is computed
// here from those signatures. Only then is the Approval built, here, from the
// verified fields, and compared with the gateway's typed data.
import { getAddress } from 'viem';
import { typedData, digest, signerOf, belowDigest, Untrusted } from './typed.js';

/** The TransferRequest message from the API's JSON (field names are the EIP-712 ones). */
export function requestMessage(r) {
  return {
    requestId: r.requestId.toLowerCase(),
    flowHash: r.flowHash.toLowerCase(),
    applicant: getAddress(r.applicant),
    asset: getAddress(r.asset),
    to: getAddress(r.to),
    amount: String(r.amount),
    maxFee: String(r.maxFee),
    chainId: r.chainId,
    timestamp: r.timestamp,
  };
}

/** The BoxFlow message from the API's JSON. */
export function flowMessage(fl) {
  return {
    name: fl.name,
    employees: fl.employees.map((a) => getAddress(a)),
    levels: fl.levels.map((l) => ({ name: l.name, approvers: l.approvers.map((a) => getAddress(a)), threshold: l.threshold })),
    limits: fl.limits.map((l) => ({
      asset: getAddress(l.asset), perTransfer: String(l.perTransfer), perPeriod: String(l.perPeriod),
      periodSeconds: l.periodSeconds, maxFee: String(l.maxFee),
    })),
    nonce: fl.nonce,
    addressBookOnly: fl.addressBookOnly === true,
  };
}

/** The flow as shown, checked to hash to `hash`. */
export function verifiedFlow(domain, flowOut, hash) {
  const msg = flowMessage(flowOut.flow);
  const d = digest(typedData(domain, 'BoxFlow', msg));
  if (d !== hash.toLowerCase() || flowOut.hash.toLowerCase() !== d) {
    throw new Untrusted(`the flow shown does not hash to flow ${hash}`);
  }
  return msg;
}

/**
 * Verifies transfer `t` (GET /v1/transfers/{id}) and its flow for `me`;
 * returns the request, the open level, and the Approval typed data to sign
 * at that level.
 */
export async function verifiedTransfer(domain, id, t, flowOut, me) {
  const request = requestMessage(t.request);
  const requestTd = typedData(domain, 'TransferRequest', request);
  if (t.id.toLowerCase() !== id.toLowerCase() || digest(requestTd) !== id.toLowerCase()) {
    throw new Untrusted(`the request shown does not hash to transfer id ${id}`);
  }
  if (request.chainId !== domain.chainId) throw new Untrusted(`the request is for chain ${request.chainId}, this deployment's is ${domain.chainId}`);
  const applicantSig = t.applicantSignature.toLowerCase();
  if ((await signerOf(requestTd, applicantSig).catch(() => null)) !== request.applicant) {
    throw new Untrusted("the applicant's signature does not verify");
  }
  const flow = verifiedFlow(domain, flowOut, request.flowHash);
  const level = t.openLevel;
  const levels = [];
  const seen = new Set();
  const checkedLevels = [];
  for (let l = 1; level && l < level; l++) {
    const shown = t.levels.find((x) => x.level === l);
    const def = flow.levels[l - 1];
    if (!shown || !def) throw new Untrusted(`level ${l} is missing from what the gateway shows`);
    const approvalTd = typedData(domain, 'Approval', { request, level: l, below: belowDigest(applicantSig, levels) });
    const sigs = shown.signatures.map((s) => s.signature.toLowerCase());
    const signers = [];
    for (const sig of sigs) {
      const who = await signerOf(approvalTd, sig).catch(() => null);
      if (!who) throw new Untrusted(`a level ${l} signature does not recover`);
      if (who === request.applicant || who === me) throw new Untrusted(`level ${l} holds a signature by ${who}, who may not approve`);
      if (!def.approvers.includes(who)) throw new Untrusted(`level ${l} holds a signature by ${who}, who is not one of its approvers`);
      if (seen.has(who)) throw new Untrusted(`${who} signed twice`);
      seen.add(who);
      signers.push(who);
    }
    if (sigs.length < def.threshold) throw new Untrusted(`level ${l} shows ${sigs.length} of its ${def.threshold} required signatures but is closed`);
    levels.push(sigs);
    checkedLevels.push({ level: l, name: def.name, signers, threshold: def.threshold });
  }
  const approval = level ? typedData(domain, 'Approval', { request, level, below: belowDigest(applicantSig, levels) }) : null;
  return { request, flow, level, approval, checkedLevels };
}

/** The gateway's typed data must be exactly what this browser built. */
export function sameAsGateway(ours, theirs, what) {
  if (!theirs || digest(theirs) !== digest(ours)) {
    throw new Untrusted(`the gateway's typed data for ${what} differs from what this browser computed from the verified fields`);
  }
}
