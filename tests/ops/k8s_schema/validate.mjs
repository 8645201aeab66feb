#!/usr/bin/env node
// Checks Kubernetes objects against their API's JSON schemas, offline:
// kubernetes-models (the OpenAPI schemas of Kubernetes 1.27) and
// @kubernetes-models/prometheus-operator (its CRDs). Reads a multi-document
// YAML stream (`kubectl kustomize` output) on stdin; prints one JSON line
// per object, {kind, name, apiVersion, error}, and exits 1 if any object
// is invalid or of a kind with no schema here.
import fs from 'fs';
import yaml from 'js-yaml';

// apiVersion -> the module holding its kinds' classes.
function moduleFor(apiVersion) {
  if (apiVersion === 'v1') return 'kubernetes-models/v1';
  if (apiVersion.startsWith('monitoring.coreos.com/')) {
    return '@kubernetes-models/prometheus-operator/' + apiVersion;
  }
  return 'kubernetes-models/' + apiVersion;
}

async function check(doc) {
  const result = {
    kind: doc.kind, name: (doc.metadata || {}).name,
    apiVersion: doc.apiVersion, error: null,
  };
  let kinds;
  try {
    kinds = await import(moduleFor(String(doc.apiVersion)));
  } catch (e) {
    result.error = 'no schema for apiVersion ' + doc.apiVersion;
    return result;
  }
  const Kind = kinds[doc.kind];
  if (typeof Kind !== 'function') {
    result.error = 'no schema for kind ' + doc.kind + ' in ' + doc.apiVersion;
    return result;
  }
  try {
    new Kind(doc).validate();
  } catch (e) {
    result.error = String(e.message || e);
  }
  return result;
}

const docs = yaml.loadAll(fs.readFileSync(0, 'utf8')).filter((d) => d);
let bad = 0;
for (const doc of docs) {
  const result = await check(doc);
  if (result.error) bad++;
  process.stdout.write(JSON.stringify(result) + '\n');
}
process.exit(bad ? 1 : 0);
