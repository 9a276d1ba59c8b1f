// The official game's ws-message shape (yandex-cloud-examples/
// yc-serverless-game src/server/functions/ws-message): the user comes from
// requestContext.authorizer, and the handler throws without one. Run by
// ../runner.js in tests/integration/test_fn_auth.py.
module.exports.handler = async (event) => {
  const userId = event.requestContext.authorizer?.userId;
  if (!userId) throw new Error('user not found');
  return { statusCode: 200, headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ user: userId, got: event.body, lang: 'node' }) };
};
