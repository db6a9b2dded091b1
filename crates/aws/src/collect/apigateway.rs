//! API Gateway v1 (REST): APIs, resources and methods, stages, authorizers, customised gateway
//! responses, custom domain names and their base path mappings.

use std::collections::BTreeMap;

use aws_sdk_apigateway::types::{BasePathMapping, DomainName, RestApi};

use super::{each, failure, follow, timestamp, ApiGatewayOut, CollectError, Collector, Target};
use crate::model::Resource;

pub use stagecraft_model::types::apigateway::{
    AUTHORIZER, BASE_PATH_MAPPING, DOMAIN, EMPTY_BASE_PATH, GATEWAY_RESPONSE, METHOD, RESOURCE,
    REST_API, STAGE,
};

pub async fn collect(t: &Target<'_>) -> Result<Vec<Resource>, CollectError> {
    let c = Collector::Apigateway;
    let client = crate::client!(aws_sdk_apigateway, t.config);
    let mut out = ApiGatewayOut::new(t);

    // The REST APIs and the custom domains are independent listings: read at once, and so are each
    // API's resources, stages, authorizers and gateway responses, and each domain's mappings.
    let apis = async {
        let pages: Vec<_> = client
            .get_rest_apis()
            .limit(500)
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| failure(c, t.region, "apigateway:GetRestApis", &e))?;
        let apis: Vec<RestApi> = pages
            .into_iter()
            .flat_map(|p| p.items.unwrap_or_default())
            .collect();
        each(apis, |api| api_parts(&client, t, api)).await
    };
    let domains = async {
        let pages: Vec<_> = client
            .get_domain_names()
            .limit(500)
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| failure(c, t.region, "apigateway:GetDomainNames", &e))?;
        let domains: Vec<DomainName> = pages
            .into_iter()
            .flat_map(|p| p.items.unwrap_or_default())
            .collect();
        each(domains, |d| domain_parts(&client, t, d)).await
    };
    let (apis, domains) = futures::try_join!(apis, domains)?;

    for ApiParts {
        api,
        resources,
        stages,
        authorizers,
        responses,
    } in &apis
    {
        let Some(api_id) = api.id() else { continue };
        let r = out.push(
            REST_API,
            format!("/restapis/{api_id}"),
            api.name().unwrap_or_default().to_owned(),
        );
        r.tags = api
            .tags()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .collect();
        r.attr("api_id", api_id.to_owned())
            .attr("description", api.description().map(str::to_owned))
            .attr("created", timestamp(api.created_date()))
            .attr(
                "root_resource_id",
                api.root_resource_id().map(str::to_owned),
            );

        for res in resources {
            let Some(res_id) = res.id() else { continue };
            let path = res.path().unwrap_or("/").to_owned();
            let r = out.push(
                RESOURCE,
                format!("/restapis/{api_id}/resources/{res_id}"),
                path.clone(),
            );
            r.attr("api_id", api_id.to_owned())
                .attr("resource_id", res_id.to_owned())
                .attr("parent_id", res.parent_id().map(str::to_owned));
            let methods: BTreeMap<_, _> = res
                .resource_methods()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .collect();
            for (verb, m) in methods {
                let r = out.push(
                    METHOD,
                    format!("/restapis/{api_id}/resources/{res_id}/methods/{verb}"),
                    format!("{verb} {path}"),
                );
                r.attr("api_id", api_id.to_owned())
                    .attr("resource_id", res_id.to_owned())
                    .attr("http_method", verb.clone())
                    .attr(
                        "authorization_type",
                        m.authorization_type().map(str::to_owned),
                    )
                    .attr("authorizer_id", m.authorizer_id().map(str::to_owned))
                    .attr(
                        "integration_uri",
                        m.method_integration()
                            .and_then(|i| i.uri())
                            .map(str::to_owned),
                    );
            }
        }

        for s in stages {
            let Some(stage) = s.stage_name() else {
                continue;
            };
            let r = out.push(
                STAGE,
                format!("/restapis/{api_id}/stages/{stage}"),
                stage.to_owned(),
            );
            r.tags = s.tags().cloned().unwrap_or_default().into_iter().collect();
            r.attr("api_id", api_id.to_owned())
                .attr("deployment_id", s.deployment_id().map(str::to_owned))
                .attr("created", timestamp(s.created_date()));
        }

        for a in authorizers {
            let Some(id) = a.id() else { continue };
            let r = out.push(
                AUTHORIZER,
                format!("/restapis/{api_id}/authorizers/{id}"),
                a.name().unwrap_or_default().to_owned(),
            );
            r.attr("api_id", api_id.to_owned())
                .attr("authorizer_id", id.to_owned())
                .attr("authorizer_type", a.r#type().map(|t| t.as_str().to_owned()))
                .attr("authorizer_uri", a.authorizer_uri().map(str::to_owned))
                .attr("identity_source", a.identity_source().map(str::to_owned));
        }

        for g in responses {
            // AWS lists every response type; only the customised ones are somebody's resource.
            if g.default_response() {
                continue;
            }
            let Some(ty) = g.response_type() else {
                continue;
            };
            let params: BTreeMap<_, _> = g
                .response_parameters()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .collect();
            let r = out.push(
                GATEWAY_RESPONSE,
                format!("/restapis/{api_id}/gatewayresponses/{}", ty.as_str()),
                ty.as_str().to_owned(),
            );
            r.attr("api_id", api_id.to_owned())
                .attr("response_type", ty.as_str().to_owned())
                .attr("status_code", g.status_code().map(str::to_owned))
                .attr(
                    "response_parameters",
                    serde_json::to_value(params).unwrap_or_default(),
                );
        }
    }

    for (d, mappings) in &domains {
        let Some(domain) = d.domain_name() else {
            continue;
        };
        let r = out.push(DOMAIN, format!("/domainnames/{domain}"), domain.to_owned());
        r.tags = d.tags().cloned().unwrap_or_default().into_iter().collect();
        r.attr(
            "regional_domain_name",
            d.regional_domain_name().map(str::to_owned),
        )
        .attr(
            "certificate_arn",
            d.regional_certificate_arn()
                .or(d.certificate_arn())
                .map(str::to_owned),
        );
        for m in mappings {
            let base = m
                .base_path()
                .filter(|b| !b.is_empty())
                .unwrap_or(EMPTY_BASE_PATH);
            let r = out.push(
                BASE_PATH_MAPPING,
                format!("/domainnames/{domain}/basepathmappings/{base}"),
                format!(
                    "{domain}/{}",
                    if base == EMPTY_BASE_PATH { "" } else { base }
                ),
            );
            r.attr("domain_name", domain.to_owned())
                .attr("base_path", base.to_owned())
                .attr("api_id", m.rest_api_id().map(str::to_owned))
                .attr("stage", m.stage().map(str::to_owned));
        }
    }
    Ok(out.list)
}

/// One REST API with what is read per API.
struct ApiParts {
    api: RestApi,
    resources: Vec<aws_sdk_apigateway::types::Resource>,
    stages: Vec<aws_sdk_apigateway::types::Stage>,
    authorizers: Vec<aws_sdk_apigateway::types::Authorizer>,
    responses: Vec<aws_sdk_apigateway::types::GatewayResponse>,
}

async fn api_parts(
    client: &aws_sdk_apigateway::Client,
    t: &Target<'_>,
    api: RestApi,
) -> Result<ApiParts, CollectError> {
    let c = Collector::Apigateway;
    let api_id = api.id().unwrap_or_default();
    let resources = async {
        let pages: Vec<_> = client
            .get_resources()
            .rest_api_id(api_id)
            .limit(500)
            .embed("methods")
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| failure(c, t.region, "apigateway:GetResources", &e))?;
        Ok(pages
            .into_iter()
            .flat_map(|p| p.items.unwrap_or_default())
            .collect())
    };
    let stages = async {
        let stages = client
            .get_stages()
            .rest_api_id(api_id)
            .send()
            .await
            .map_err(|e| failure(c, t.region, "apigateway:GetStages", &e))?;
        Ok(stages.item.unwrap_or_default())
    };
    // No SDK paginator for authorizers and gateway responses: follow `position` by hand.
    let authorizers = follow(|position| {
        let request = client
            .get_authorizers()
            .rest_api_id(api_id)
            .limit(500)
            .set_position(position);
        async move {
            let page = request
                .send()
                .await
                .map_err(|e| failure(c, t.region, "apigateway:GetAuthorizers", &e))?;
            Ok((page.items().to_vec(), page.position().map(str::to_owned)))
        }
    });
    let responses = follow(|position| {
        let request = client
            .get_gateway_responses()
            .rest_api_id(api_id)
            .limit(500)
            .set_position(position);
        async move {
            let page = request
                .send()
                .await
                .map_err(|e| failure(c, t.region, "apigateway:GetGatewayResponses", &e))?;
            Ok((page.items().to_vec(), page.position().map(str::to_owned)))
        }
    });
    let (resources, stages, authorizers, responses) =
        futures::try_join!(resources, stages, authorizers, responses)?;
    Ok(ApiParts {
        api,
        resources,
        stages,
        authorizers,
        responses,
    })
}

/// A custom domain with its base path mappings.
async fn domain_parts(
    client: &aws_sdk_apigateway::Client,
    t: &Target<'_>,
    d: DomainName,
) -> Result<(DomainName, Vec<BasePathMapping>), CollectError> {
    let Some(domain) = d.domain_name() else {
        return Ok((d, Vec::new()));
    };
    let pages: Vec<_> = client
        .get_base_path_mappings()
        .domain_name(domain)
        .limit(500)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| {
            failure(
                Collector::Apigateway,
                t.region,
                "apigateway:GetBasePathMappings",
                &e,
            )
        })?;
    let mappings = pages
        .into_iter()
        .flat_map(|p| p.items.unwrap_or_default())
        .collect();
    Ok((d, mappings))
}
