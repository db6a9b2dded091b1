// Who changed what, with which tool: how the window words a CloudTrail change.
import type { ChangeEvent } from "./generated/ChangeEvent";
import type { Tool } from "./generated/Tool";

export const TOOL_LABEL: Record<Tool, string> = {
  terraform: "Terraform",
  cloudformation: "CloudFormation",
  serverless: "the Serverless CLI",
  cdk: "the CDK CLI",
  sam: "the SAM CLI",
  console: "the AWS console",
  cli: "the AWS CLI",
  js_sdk_v2: "the Serverless CLI v3 or another JavaScript SDK v2 client",
  sdk: "an AWS SDK",
  aws_service: "an AWS service",
  unknown: "an unknown client",
};

/** "UpdateFunctionConfiguration by role Admin (session alice) with the AWS console, 2026-12-04 10:00 UTC". */
export function changeLine(c: ChangeEvent): string {
  return `${c.action} by ${c.who} with ${TOOL_LABEL[c.tool]}, ${c.at.slice(0, 16).replace("T", " ")} UTC`;
}

/** The short names a change touched: `api-dev-hello`, `/core/db_url`, `orders`. */
export function targetNames(c: ChangeEvent): string[] {
  const names = c.targets.map((t) => {
    if (!t.name.startsWith("arn:")) return t.name;
    // The ARN's resource part: `function:name`, `parameter/core/x`, `secret:name-AbCdEf`, `table/name`.
    const resource = t.name.split(":").slice(5).join(":");
    if (resource.startsWith("parameter/")) return resource.slice("parameter".length);
    const m = resource.match(/^[A-Za-z-]+[:/](.+)$/);
    return m?.[1] ?? resource;
  });
  return [...new Set(names)];
}
