//! API Gateway v2 (HTTP and WebSocket APIs): APIs, stages, custom domains and API mappings.
//!
//! Custom domains are shared by v1 and v2 in AWS; a domain both collectors report is kept once (the
//! scan drops duplicate ids).

use super::{each, failure, follow, timestamp, ApiGatewayOut, CollectError, Collector, Target};
use crate::model::Resource;

pub use stagecraft_model::types::apigatewayv2::{API, API_MAPPING, DOMAIN, STAGE};

pub async fn collect(t: &Target<'_>) -> Result<Vec<Resource>, CollectError> {
    let c = Collector::Apigatewayv2;
    let client = crate::client!(aws_sdk_apigatewayv2, t.config);
    let mut out = ApiGatewayOut::new(t);

    // API Gateway v2 has no SDK paginators: follow `NextToken` by hand. The APIs (each with its
    // stages) and the custom domains (each with its mappings) are read at once.
    let apis = async {
        let apis = follow(|token| {
            let request = client.get_apis().set_next_token(token);
            async move {
                let page = request
                    .send()
                    .await
                    .map_err(|e| failure(c, t.region, "apigatewayv2:GetApis", &e))?;
                Ok((page.items().to_vec(), page.next_token().map(str::to_owned)))
            }
        })
        .await?;
        each(apis, |api| {
            let client = &client;
            async move {
                let Some(api_id) = api.api_id() else {
                    return Ok((api, Vec::new()));
                };
                let stages = follow(|token| {
                    let request = client.get_stages().api_id(api_id).set_next_token(token);
                    async move {
                        let page = request
                            .send()
                            .await
                            .map_err(|e| failure(c, t.region, "apigatewayv2:GetStages", &e))?;
                        Ok((page.items().to_vec(), page.next_token().map(str::to_owned)))
                    }
                })
                .await?;
                Ok((api, stages))
            }
        })
        .await
    };
    let domains = async {
        let domains = follow(|token| {
            let request = client.get_domain_names().set_next_token(token);
            async move {
                let page = request
                    .send()
                    .await
                    .map_err(|e| failure(c, t.region, "apigatewayv2:GetDomainNames", &e))?;
                Ok((page.items().to_vec(), page.next_token().map(str::to_owned)))
            }
        })
        .await?;
        each(domains, |d| {
            let client = &client;
            async move {
                let Some(domain) = d.domain_name() else {
                    return Ok((d, Vec::new()));
                };
                let mappings = client
                    .get_api_mappings()
                    .domain_name(domain)
                    .send()
                    .await
                    .map_err(|e| failure(c, t.region, "apigatewayv2:GetApiMappings", &e))?;
                Ok((d, mappings.items.unwrap_or_default()))
            }
        })
        .await
    };
    let (apis, domains) = futures::try_join!(apis, domains)?;
    for (api, stages) in &apis {
        let Some(api_id) = api.api_id() else { continue };
        let r = out.push(
            API,
            format!("/apis/{api_id}"),
            api.name().unwrap_or_default().to_owned(),
        );
        r.tags = api
            .tags()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .collect();
        r.attr("api_id", api_id.to_owned())
            .attr(
                "protocol",
                api.protocol_type().map(|p| p.as_str().to_owned()),
            )
            .attr("endpoint", api.api_endpoint().map(str::to_owned))
            .attr(
                "route_selection_expression",
                api.route_selection_expression().map(str::to_owned),
            )
            .attr("created", timestamp(api.created_date()));

        for s in stages {
            let name = s.stage_name().unwrap_or_default();
            let r = out.push(
                STAGE,
                format!("/apis/{api_id}/stages/{name}"),
                name.to_owned(),
            );
            r.tags = s.tags().cloned().unwrap_or_default().into_iter().collect();
            r.attr("api_id", api_id.to_owned())
                .attr("deployment_id", s.deployment_id().map(str::to_owned));
        }
    }

    let v2_ids: std::collections::BTreeSet<&str> =
        apis.iter().filter_map(|(a, _)| a.api_id()).collect();
    for (d, mappings) in &domains {
        let Some(domain) = d.domain_name() else {
            continue;
        };
        let r = out.push(DOMAIN, format!("/domainnames/{domain}"), domain.to_owned());
        r.tags = d.tags().cloned().unwrap_or_default().into_iter().collect();
        // REST API mappings show up here too; those are base path mappings, collected in v1.
        for m in mappings
            .iter()
            .filter(|m| m.api_id().is_some_and(|a| v2_ids.contains(a)))
        {
            let id = m.api_mapping_id().unwrap_or_default();
            let r = out.push(
                API_MAPPING,
                format!("/domainnames/{domain}/apimappings/{id}"),
                format!("{domain}/{}", m.api_mapping_key().unwrap_or_default()),
            );
            r.attr("domain_name", domain.to_owned())
                .attr("api_id", m.api_id().map(str::to_owned))
                .attr("stage", m.stage().map(str::to_owned))
                .attr("key", m.api_mapping_key().map(str::to_owned));
        }
    }
    Ok(out.list)
}
