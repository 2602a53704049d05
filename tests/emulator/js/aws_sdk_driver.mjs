// Drives the emulator with the AWS SDK for JavaScript v3, an SDK nobody here wrote.
// Input (stdin, JSON): {"region", "accessKeyId", "secretAccessKey", "clockOffsetSeconds"?, "steps": [
//   {"client": "apigatewayv2" | "apigatewaymanagementapi", "endpoint", "command": "CreateApiCommand",
//    "input": {...}}]}
// Output (stdout, JSON): one entry per step, {"ok": output} or {"error": name, "status": httpStatus}.
// Steps run in order; "$N.Path.To.Value" in a string input is replaced by step N's output value.
import * as v2 from "@aws-sdk/client-apigatewayv2";
import * as mgmt from "@aws-sdk/client-apigatewaymanagementapi";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const plan = JSON.parse(Buffer.concat(chunks).toString());
const modules = { apigatewayv2: [v2, v2.ApiGatewayV2Client], apigatewaymanagementapi: [mgmt, mgmt.ApiGatewayManagementApiClient] };
const results = [];

function resolve(value) {
  if (typeof value === "string" && /^\$\d+\./.test(value)) {
    const [head, ...path] = value.slice(1).split(".");
    let out = results[Number(head)].ok;
    for (const key of path) out = out?.[key];
    return out;
  }
  if (Array.isArray(value)) return value.map(resolve);
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v)]));
  return value;
}

for (const step of plan.steps) {
  const [module, Client] = modules[step.client];
  const client = new Client({
    region: plan.region,
    endpoint: resolve(step.endpoint),
    credentials: { accessKeyId: plan.accessKeyId, secretAccessKey: plan.secretAccessKey },
    maxAttempts: 1,
    // A skewed clock (ms): signatures dated that far from now (issue 13, item 8).
    systemClockOffset: (plan.clockOffsetSeconds || 0) * 1000,
  });
  const input = resolve(step.input || {});
  if (typeof input.Data === "string") input.Data = Buffer.from(input.Data);
  try {
    const output = await client.send(new module[step.command](input));
    delete output.$metadata;
    results.push({ ok: output });
  } catch (err) {
    results.push({ error: err.name, status: err.$metadata?.httpStatusCode ?? null, message: String(err.message) });
  }
  client.destroy();
}
process.stdout.write(JSON.stringify(results));
