exports.authorize = async (event) => ({
  principalId: "user",
  policyDocument: {
    Version: "2012-10-17",
    Statement: [{ Action: "execute-api:Invoke", Effect: "Allow", Resource: event.methodArn }],
  },
});
exports.login = async () => ({ statusCode: 200, body: JSON.stringify({ ok: true }) });
