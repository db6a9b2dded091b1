exports.create = async () => ({ statusCode: 201, body: "{}" });
exports.list = async () => ({ statusCode: 200, body: "[]" });
exports.connect = async () => ({ statusCode: 200 });
exports.disconnect = async () => ({ statusCode: 200 });
