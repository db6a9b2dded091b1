exports.daily = async () => ({ statusCode: 200, body: "[]" });
