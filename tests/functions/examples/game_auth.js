// The official game's authorizer shape (yandex-cloud-examples/
// yc-serverless-game src/server/functions/auth): a function authorizer for
// an API key in the cookie AUTH, answering isAuthorized and a context with
// the user. Run by ../runner.js in tests/integration/test_fn_auth.py; each
// request is logged (one JSON line to $AUTHZ_LOG) so the test counts calls.
const fs = require('fs');

module.exports.handler = async (event) => {
  if (process.env.AUTHZ_LOG) fs.appendFileSync(process.env.AUTHZ_LOG, JSON.stringify(event) + '\n');
  const key = (event.cookies || {}).AUTH || '';
  if (key.startsWith('good-')) return { isAuthorized: true, context: { userId: key.slice(5) } };
  return { isAuthorized: false };
};
