// A WebSocket handler written for Yandex Cloud Functions (the shape of the
// official game's ws-connect / ws-message), run by ../runner.js in
// tests/integration/test_functions.py.
module.exports.handler = async (event, context) => {
  const rc = event.requestContext;
  if (rc.eventType === 'CONNECT') {
    if ((event.queryStringParameters || {}).token === 'bad') return { statusCode: 401, body: 'no token' };
    return { statusCode: 200, headers: { 'Content-Type': 'text/plain' }, body: 'welcome ' + rc.connectionId };
  }
  if (rc.eventType === 'MESSAGE') {
    if (event.isBase64Encoded) // binary in, binary out: no Content-Type
      return { statusCode: 200, body: Buffer.from(Buffer.from(event.body, 'base64').reverse()).toString('base64'), isBase64Encoded: true };
    if (event.body === 'throw') throw new Error('asked to throw');
    return { statusCode: 200, headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ lang: 'node', got: event.body, id: rc.messageId, fn: context.functionName }) };
  }
  return { statusCode: 200 };
};
