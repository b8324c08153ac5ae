#!/usr/bin/env node
// A Node.js client of pieces-grpc-gateway. It loads protos/ at run time with
// @grpc/proto-loader (no generated code) and exercises the gateway end to end:
//
//   1. os           a unary OS RPC (OsDeviceInformation)
//   2. applications an RPC with a path parameter (ApplicationsSpecificApplicationSnapshot)
//   3. error        a Backup call that fails, read through its gRPC code and the
//                   google.rpc.Status / google.rpc.ErrorInfo in grpc-status-details-bin
//   4. restore      the server-streamed restore, every progress message in order
//
// It prints one line per step, then one JSON summary line, and exits 0 only when every
// check passed (1 on a failed check, 2 on a usage error).
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');

const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');

const REPO = path.resolve(__dirname, '..', '..');
const PROTO_FILES = ['pieces/v1/os.proto', 'pieces/v1/applications.proto', 'pieces/v1/backup.proto'];
const STATUS_DETAILS_KEY = 'grpc-status-details-bin';
const ERROR_INFO_TYPE_URL = 'type.googleapis.com/google.rpc.ErrorInfo';
const UPSTREAM_DOMAIN = 'pieces.app';

const STATUS_PREFIX = 'MODEL_DOWNLOAD_PROGRESS_STATUS_ENUM_';
const INITIALIZED = `${STATUS_PREFIX}INITIALIZED`;
const IN_PROGRESS = `${STATUS_PREFIX}IN_PROGRESS`;
const COMPLETED = `${STATUS_PREFIX}COMPLETED`;

const USAGE = `usage: node client.js --backup <id> [options]

  --target <host:port>     gateway address (env PIECES_GRPC_TARGET, default 127.0.0.1:50551)
  --protos <dir>           the project's protos/ (default ${path.join(REPO, 'protos')})
  --include <dir>          extra include dir holding google/api and google/protobuf protos;
                           repeatable (env PIECES_PROTO_INCLUDE, ${path.delimiter}-separated;
                           default ${path.join(REPO, 'build', 'protodeps')})
  --backup <id>            an existing backup to restore (streamed restore step)
  --missing-backup <id>    a backup id that does not exist (default no-such-backup)
  --expect-progress <n>    exact number of IN_PROGRESS messages the restore must stream
  --timeout <seconds>      deadline of each call (default 30)
  --help`;

// google.rpc.Status and google.rpc.ErrorInfo, as in googleapis' google/rpc/*.proto. Defined
// inline so that decoding the status details needs no proto file outside this repository.
const RPC_ROOT = protobuf.Root.fromJSON({
  nested: {
    google: {
      nested: {
        protobuf: {
          nested: {
            Any: {
              fields: { type_url: { type: 'string', id: 1 }, value: { type: 'bytes', id: 2 } },
            },
          },
        },
        rpc: {
          nested: {
            Status: {
              fields: {
                code: { type: 'int32', id: 1 },
                message: { type: 'string', id: 2 },
                details: { rule: 'repeated', type: 'google.protobuf.Any', id: 3 },
              },
            },
            ErrorInfo: {
              fields: {
                reason: { type: 'string', id: 1 },
                domain: { type: 'string', id: 2 },
                metadata: { keyType: 'string', type: 'string', id: 3 },
              },
            },
          },
        },
      },
    },
  },
});
const RpcStatus = RPC_ROOT.lookupType('google.rpc.Status');
const ErrorInfo = RPC_ROOT.lookupType('google.rpc.ErrorInfo');

class UsageError extends Error {}

/** A failed expectation: the step is reported as FAIL with this message. */
class CheckError extends Error {}

function check(condition, message) {
  if (!condition) throw new CheckError(message);
}

const CODE_NAMES = Object.fromEntries(Object.entries(grpc.status).map(([name, code]) => [code, name]));

function codeName(code) {
  return CODE_NAMES[code] ?? `code ${code}`;
}

function parseOptions(argv) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        target: { type: 'string', default: process.env.PIECES_GRPC_TARGET || '127.0.0.1:50551' },
        protos: { type: 'string', default: path.join(REPO, 'protos') },
        include: { type: 'string', multiple: true },
        backup: { type: 'string' },
        'missing-backup': { type: 'string', default: 'no-such-backup' },
        'expect-progress': { type: 'string' },
        timeout: { type: 'string', default: '30' },
        help: { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError(err.message);
  }
  if (values.help) return { help: true };

  let includes = values.include;
  if (!includes || includes.length === 0) {
    const fromEnv = (process.env.PIECES_PROTO_INCLUDE || '').split(path.delimiter).filter(Boolean);
    includes = fromEnv.length > 0 ? fromEnv : [path.join(REPO, 'build', 'protodeps')];
  }
  includes = includes.map((dir) => path.resolve(dir));
  const protos = path.resolve(values.protos);
  for (const [dir, probe] of [[protos, PROTO_FILES[0]], ...includes.map((d) => [d, null])]) {
    if (!fs.existsSync(probe ? path.join(dir, probe) : dir)) {
      throw new UsageError(`proto directory not found: ${probe ? path.join(dir, probe) : dir}`);
    }
  }
  if (!includes.some((dir) => fs.existsSync(path.join(dir, 'google', 'api', 'annotations.proto')))) {
    throw new UsageError(
      `no google/api/annotations.proto under ${includes.join(', ')} (run \`make build/protodeps\`)`,
    );
  }

  if (!values.backup) throw new UsageError('--backup <id> is required');
  let expectProgress = null;
  if (values['expect-progress'] !== undefined) {
    expectProgress = Number(values['expect-progress']);
    if (!Number.isInteger(expectProgress) || expectProgress < 0) {
      throw new UsageError(`--expect-progress must be a non-negative integer, not ${values['expect-progress']}`);
    }
  }
  const timeout = Number(values.timeout);
  if (!(timeout > 0)) throw new UsageError(`--timeout must be a positive number, not ${values.timeout}`);

  return {
    help: false,
    target: values.target,
    protos,
    includes,
    backup: values.backup,
    missingBackup: values['missing-backup'],
    expectProgress,
    timeoutMs: timeout * 1000,
  };
}

function loadServices(opts) {
  const definition = protoLoader.loadSync(PROTO_FILES, {
    includeDirs: [opts.protos, ...opts.includes],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(definition).pieces.v1;
  const os = new pkg.OsService(opts.target, grpc.credentials.createInsecure());
  const shared = { channelOverride: os.getChannel() };
  return {
    os,
    applications: new pkg.ApplicationsService(opts.target, grpc.credentials.createInsecure(), shared),
    backup: new pkg.BackupService(opts.target, grpc.credentials.createInsecure(), shared),
  };
}

function deadline(opts) {
  return new Date(Date.now() + opts.timeoutMs);
}

function unary(client, method, request, opts) {
  return new Promise((resolve, reject) => {
    client[method](request, { deadline: deadline(opts) }, (err, response) =>
      err ? reject(err) : resolve(response),
    );
  });
}

function waitForReady(client, opts) {
  return new Promise((resolve, reject) => {
    client.waitForReady(deadline(opts), (err) =>
      err ? reject(new CheckError(`gateway at ${opts.target} not reachable: ${err.message}`)) : resolve(),
    );
  });
}

/** Describe an unexpected gRPC error as a check failure. */
function rpcFailure(method, err) {
  if (err instanceof CheckError || err.code === undefined) return err;
  return new CheckError(`${method} failed: ${codeName(err.code)}: ${err.details}`);
}

// --- Steps -------------------------------------------------------------------------------------

async function stepOs(clients, opts) {
  let info;
  try {
    info = await unary(clients.os, 'OsDeviceInformation', {}, opts);
  } catch (err) {
    throw rpcFailure('OsDeviceInformation', err);
  }
  const name = info.name || '';
  const version = info.version || '';
  const result = { name, version };
  check(name !== '', 'OsDeviceInformation answered an empty name');
  check(version !== '', 'OsDeviceInformation answered an empty version');
  return { result, line: `OsDeviceInformation: name=${JSON.stringify(name)} version=${version}` };
}

async function stepApplications(clients, opts) {
  let all;
  try {
    all = await unary(clients.applications, 'ApplicationsSnapshot', {}, opts);
  } catch (err) {
    throw rpcFailure('ApplicationsSnapshot', err);
  }
  const iterable = all.iterable || [];
  check(iterable.length > 0, 'ApplicationsSnapshot answered no application');
  const first = iterable[0];
  check(first.id, 'ApplicationsSnapshot answered an application without id');

  let one;
  try {
    one = await unary(
      clients.applications,
      'ApplicationsSpecificApplicationSnapshot',
      { application: first.id },
      opts,
    );
  } catch (err) {
    throw rpcFailure('ApplicationsSpecificApplicationSnapshot', err);
  }
  const result = { count: iterable.length, id: one.id, name: one.name, platform: one.platform };
  check(one.id === first.id, `asked for application ${first.id}, got ${JSON.stringify(one.id)}`);
  check(
    one.name === first.name && one.version === first.version,
    `application ${first.id} differs between the snapshot and the specific snapshot`,
  );
  return {
    result,
    line: `ApplicationsSpecificApplicationSnapshot(${first.id}) -> ${one.name} ${one.version} (${iterable.length} applications)`,
  };
}

/** The google.rpc.Status carried by an error's grpc-status-details-bin trailer, decoded. */
function statusDetails(err) {
  const values = err.metadata ? err.metadata.get(STATUS_DETAILS_KEY) : [];
  check(values.length > 0, `the ${codeName(err.code)} error carries no ${STATUS_DETAILS_KEY} trailer`);
  check(values.length === 1, `the error carries ${values.length} ${STATUS_DETAILS_KEY} values`);
  const status = RpcStatus.decode(values[0]);
  const errorInfos = status.details
    .filter((any) => any.type_url === ERROR_INFO_TYPE_URL)
    .map((any) => ErrorInfo.toObject(ErrorInfo.decode(any.value), { defaults: true }));
  return { status, errorInfos, typeUrls: status.details.map((any) => any.type_url) };
}

async function stepError(clients, opts) {
  const method = 'BackupSpecificCreationStatus';
  let answer;
  try {
    answer = await unary(clients.backup, method, { backup: opts.missingBackup }, opts);
  } catch (err) {
    if (err.code === undefined) throw err;
    const result = { code: err.code, code_name: codeName(err.code), message: err.details };
    try {
      check(err.code === grpc.status.NOT_FOUND, `${method}(${opts.missingBackup}) failed with ${codeName(err.code)}, expected NOT_FOUND`);
      const { status, errorInfos, typeUrls } = statusDetails(err);
      result.status_code = status.code;
      result.status_message = status.message;
      result.detail_types = typeUrls;
      check(status.code === err.code, `google.rpc.Status code ${status.code} differs from the gRPC code ${err.code}`);
      check(status.message === err.details, 'google.rpc.Status message differs from the gRPC status message');
      check(errorInfos.length === 1, `expected one ErrorInfo detail, found ${errorInfos.length} among ${typeUrls.join(', ') || 'none'}`);
      const info = errorInfos[0];
      Object.assign(result, { reason: info.reason, domain: info.domain, metadata: info.metadata });
      check(info.reason !== '', 'ErrorInfo has an empty reason');
      check(info.domain === UPSTREAM_DOMAIN, `ErrorInfo domain is ${JSON.stringify(info.domain)}, expected ${UPSTREAM_DOMAIN}`);
      check(info.metadata.http_status === '404', `ErrorInfo metadata.http_status is ${JSON.stringify(info.metadata.http_status)}, expected "404"`);
    } catch (failure) {
      failure.result = result;
      throw failure;
    }
    return {
      result,
      line: `${method}(${opts.missingBackup}) -> ${result.code_name} (${result.code}); ErrorInfo reason=${result.reason} domain=${result.domain} http_status=${result.metadata.http_status}`,
    };
  }
  throw new CheckError(`${method}(${opts.missingBackup}) succeeded (${JSON.stringify(answer)}), expected NOT_FOUND`);
}

/** Every message of a server stream, and its final status (also when the stream fails). */
function collectStream(call) {
  return new Promise((resolve) => {
    const messages = [];
    let error = null;
    call.on('data', (message) => messages.push(message));
    call.on('error', (err) => {
      error = err;
    });
    call.on('status', (status) => resolve({ messages, status, error }));
  });
}

async function stepRestore(clients, opts) {
  let backup;
  try {
    backup = await unary(clients.backup, 'BackupSpecificBackupSnapshot', { backup: opts.backup }, opts);
  } catch (err) {
    throw rpcFailure('BackupSpecificBackupSnapshot', err);
  }
  check(backup.id === opts.backup, `BackupSpecificBackupSnapshot(${opts.backup}) answered ${JSON.stringify(backup.id)}`);

  const call = clients.backup.BackupRestoreSpecificBackupStreamed(
    { backup: opts.backup, body: backup },
    { deadline: deadline(opts) },
  );
  const { messages, status } = await collectStream(call);
  const statuses = messages.map((m) => m.status);
  const progress = messages.filter((m) => m.status === IN_PROGRESS);
  const last = messages[messages.length - 1];
  const result = {
    streamed: messages.length,
    in_progress: progress.length,
    first: statuses[0] ?? null,
    last: last ? last.status : null,
    final_percentage: last && last.percentage !== undefined ? last.percentage : null,
    restored: last && last.backup ? last.backup.id : null,
    code: status.code,
    code_name: codeName(status.code),
  };
  try {
    check(status.code === grpc.status.OK, `the stream ended ${codeName(status.code)}: ${status.details} after ${messages.length} messages`);
    check(messages.length >= 2, `the stream delivered ${messages.length} messages, expected at least INITIALIZED and COMPLETED`);
    check(statuses[0] === INITIALIZED, `message 1 is ${statuses[0]}, expected ${INITIALIZED}`);
    for (let i = 1; i < messages.length - 1; i += 1) {
      check(statuses[i] === IN_PROGRESS, `message ${i + 1} of ${messages.length} is ${statuses[i]}, expected ${IN_PROGRESS}`);
    }
    check(last.status === COMPLETED, `the last message is ${last.status}, expected ${COMPLETED}`);
    let previous = -Infinity;
    for (const [i, message] of progress.entries()) {
      const pct = message.percentage;
      check(typeof pct === 'number' && Number.isFinite(pct), `IN_PROGRESS message ${i + 1} has no percentage`);
      check(pct >= previous, `IN_PROGRESS message ${i + 1} goes back from ${previous}% to ${pct}%`);
      check(pct >= 0 && pct <= 100, `IN_PROGRESS message ${i + 1} has percentage ${pct}`);
      previous = pct;
    }
    check(last.backup && last.backup.id === opts.backup, `COMPLETED carries backup ${JSON.stringify(result.restored)}, expected ${opts.backup}`);
    check(last.backup.device_name, 'the restored backup has no device_name');
    if (opts.expectProgress !== null) {
      check(
        progress.length === opts.expectProgress,
        `received ${progress.length} IN_PROGRESS messages, expected ${opts.expectProgress}`,
      );
    }
  } catch (failure) {
    failure.result = result;
    throw failure;
  }
  return {
    result,
    line: `BackupRestoreSpecificBackupStreamed(${opts.backup}) -> ${messages.length} messages: INITIALIZED, ${progress.length} x IN_PROGRESS (up to ${progress.length ? progress[progress.length - 1].percentage : '-'}%), COMPLETED`,
  };
}

const STEPS = [
  ['os', stepOs],
  ['applications', stepApplications],
  ['error', stepError],
  ['restore', stepRestore],
];

async function run(opts) {
  const summary = { ok: true, target: opts.target, steps: {}, failures: [] };
  const clients = loadServices(opts);
  try {
    await waitForReady(clients.os, opts);
    for (const [name, step] of STEPS) {
      try {
        const { result, line } = await step(clients, opts);
        summary.steps[name] = { ok: true, ...result };
        console.log(`ok    ${name.padEnd(12)} ${line}`);
      } catch (err) {
        const message = err instanceof CheckError ? err.message : `${err.name}: ${err.message}`;
        summary.ok = false;
        summary.steps[name] = { ok: false, error: message, ...(err.result || {}) };
        summary.failures.push(`${name}: ${message}`);
        console.log(`FAIL  ${name.padEnd(12)} ${message}`);
      }
    }
  } catch (err) {
    summary.ok = false;
    summary.failures.push(err.message);
    console.log(`FAIL  ${'connect'.padEnd(12)} ${err.message}`);
  } finally {
    for (const client of Object.values(clients)) client.close();
  }
  const restore = summary.steps.restore;
  summary.streamed = restore && restore.streamed !== undefined ? restore.streamed : 0;
  return summary;
}

async function main(argv) {
  let opts;
  try {
    opts = parseOptions(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`error: ${err.message}\n\n${USAGE}`);
    return 2;
  }
  if (opts.help) {
    console.log(USAGE);
    return 0;
  }
  let summary;
  try {
    summary = await run(opts);
  } catch (err) {
    summary = { ok: false, target: opts.target, steps: {}, failures: [`${err.name}: ${err.message}`], streamed: 0 };
    console.log(`FAIL  ${'client'.padEnd(12)} ${err.stack}`);
  }
  const results = Object.values(summary.steps);
  const failed = results.filter((s) => !s.ok).length;
  if (summary.ok) console.log(`all ${results.length} steps passed`);
  else if (failed > 0) console.log(`${failed} of ${STEPS.length} steps failed`);
  else console.log('no step ran');
  console.log(JSON.stringify(summary));
  return summary.ok ? 0 : 1;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}

module.exports = { main, statusDetails, RpcStatus, ErrorInfo };
