"""JSON API under ``/api/v1`` for scripts and integrations (token or browser session).

The OpenAPI document is built from the routes themselves: each endpoint's docstring gives the
summary (first line) and description (the rest); path parameters come from the route's path.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any

from sqlalchemy import select
from starlette.convertors import StringConvertor
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from app import errors
from app.policy import visible_projects
from app.web.auth import principal
from app.web.rendering import platform_of
from storage.models import Project

API_PREFIX = "/api/v1"
LIST_LIMIT = 500


def _project(project: Project) -> dict[str, Any]:
    return {
        "id": project.id,
        "code": project.code,
        "name": project.name,
        "organization_id": project.organization_id,
        "construction_unit": project.construction_unit,
        "address": project.address,
        "building_use": project.building_use,
        "floors_above": project.floors_above,
        "floors_below": project.floors_below,
        "height_m": project.height_m,
        "gross_floor_area_m2": project.gross_floor_area_m2,
        "created_at": project.created_at.isoformat(),
    }


def me(request: Request) -> Response:
    """当前用户 / The authenticated user.

    Returns the user's id, names, organisation, roles (with their track) and preferred language.
    """
    who = principal(request)
    return JSONResponse(
        {
            "user_id": who.user_id,
            "username": who.username,
            "display_name": who.display_name,
            "organization": {
                "id": who.organization_id,
                "name": who.organization_name,
                "kind": who.organization_kind.value,
            },
            "roles": [
                {"role": role.value, "track": track}
                for role, track in sorted(who.roles, key=lambda g: (g[0].value, g[1] or ""))
            ],
            "locale": who.locale,
        }
    )


def list_projects(request: Request) -> Response:
    """项目列表 / Projects the user may see.

    Designers see their organisation's projects; reviewers, clerks and signers see the projects of
    the submissions routed to them; bureau officers and administrators see every project.
    """
    who = principal(request)
    with platform_of(request).sessions() as db:
        rows = db.scalars(
            select(Project).where(visible_projects(who)).order_by(Project.id.desc()).limit(LIST_LIMIT)
        ).all()
        return JSONResponse({"projects": [_project(row) for row in rows]})


def get_project(request: Request) -> Response:
    """项目详情 / One project.

    Answers 404 for a project that does not exist and for one the user may not see (another
    organisation's project), so that its existence is not revealed.
    """
    who = principal(request)
    project_id: int = request.path_params["project_id"]
    with platform_of(request).sessions() as db:
        project = db.scalar(select(Project).where(Project.id == project_id, visible_projects(who)))
        if project is None:
            raise errors.NotFound("没有该项目", "no such project")
        return JSONResponse(_project(project))


def openapi(request: Request) -> Response:
    """接口文档 / This OpenAPI document."""
    return JSONResponse(openapi_document(all_api_routes()))


def _schema_type(convertor: object) -> str:
    return "string" if isinstance(convertor, StringConvertor) else "integer"


def openapi_document(routes: list[BaseRoute]) -> dict[str, Any]:
    """OpenAPI 3.1 for ``routes`` (mounted under ``/api/v1``), from their docstrings."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if not isinstance(route, Route) or not route.include_in_schema:
            continue
        doc = inspect.getdoc(route.endpoint) or ""
        summary, _, description = doc.partition("\n")
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": _schema_type(convertor)}}
            for name, convertor in route.param_convertors.items()
        ]
        for method in sorted((route.methods or set()) - {"HEAD"}):
            operation: dict[str, Any] = {
                "operationId": route.name,
                "summary": summary.strip(),
                "description": description.strip(),
                "responses": {
                    "200": {"description": "OK"},
                    "401": {"$ref": "#/components/responses/Error"},
                    "404": {"$ref": "#/components/responses/Error"},
                },
            }
            if parameters:
                operation["parameters"] = parameters
            paths.setdefault(API_PREFIX + route.path_format, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "联图 Liantu API", "version": "1"},
        "paths": paths,
        "security": [{"bearer": []}, {"session": []}],
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "liantu_session"},
            },
            "responses": {
                "Error": {
                    "description": "错误 / error",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                }
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {
                            "type": "object",
                            "properties": {
                                "code": {"type": "string"},
                                "message_zh": {"type": "string"},
                                "message_en": {"type": "string"},
                            },
                            "required": ["code", "message_zh", "message_en"],
                        }
                    },
                }
            },
        },
    }


api_routes: list[BaseRoute] = [
    Route("/me", me, methods=["GET"], name="api_me"),
    Route("/projects", list_projects, methods=["GET"], name="api_projects"),
    Route("/projects/{project_id:int}", get_project, methods=["GET"], name="api_project"),
    Route("/openapi.json", openapi, methods=["GET"], name="api_openapi"),
]


def all_api_routes() -> list[BaseRoute]:
    """These routes, then the ``api_routes`` of every other module of the web package, in name order."""
    import app.web as package

    found = list(api_routes)
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda item: item.name):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        extra = getattr(module, "api_routes", None)
        if module.__name__ != __name__ and isinstance(extra, list):
            found.extend(extra)
    return found


def mount() -> Mount:
    """Every API route under ``/api/v1``."""
    return Mount(API_PREFIX, routes=all_api_routes())
