// Signs eth_signTypedData_v4 JSON with an implementation independent of BOX
// (@metamask/eth-sig-util, the library MetaMask signs with), for the tests
// of the API's typed data (issue 14, item 9).
//
// stdin: a JSON array of { "key": "0x<32-byte hex>", "typedData": {...} }
// stdout: a JSON array of 0x signatures (65 bytes, v = 27/28), in order.
import { signTypedData, SignTypedDataVersion } from '@metamask/eth-sig-util';

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const jobs = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const out = jobs.map(({ key, typedData }) =>
  signTypedData({
    privateKey: Buffer.from(key.replace(/^0x/, ''), 'hex'),
    data: typedData,
    version: SignTypedDataVersion.V4,
  }),
);
process.stdout.write(JSON.stringify(out));
