exports.list = async () => ({ statusCode: 200, body: "[]" });
exports.get = async (event) => ({ statusCode: 200, body: JSON.stringify({ id: event.pathParameters.id }) });
