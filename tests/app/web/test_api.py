"""JSON API: token and session authentication, visibility of projects, the OpenAPI document."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from starlette.routing import Route

from app.identity import create_api_token, create_organization, delete_user
from app.web.api import API_PREFIX, all_api_routes
from storage.models import Organization, Project, User
from tests.support.web import sign_in


@pytest.fixture
def projects(web_platform) -> dict[str, int]:
    """One project of the demo design institute and one of another institute."""
    with web_platform.sessions() as db, db.begin():
        own_org = db.scalar(select(Organization).where(Organization.name == "江城市建筑设计研究院"))
        other_org = create_organization(db, "河西建筑设计有限公司", "design_institute")
        own = Project(
            organization_id=own_org.id,
            code="JC-2026-001",
            name="江城市第一中学教学楼",
            construction_unit="江城市教育局",
        )
        other = Project(organization_id=other_org.id, code="HX-2026-009", name="河西商业综合体")
        db.add_all([own, other])
        db.flush()
        return {"own": own.id, "other": other.id}


def _token(platform, username: str) -> str:
    with platform.sessions() as db, db.begin():
        return create_api_token(db, db.scalar(select(User.id).where(User.username == username)), "test")


def test_me_with_token(client, web_platform):
    token = _token(web_platform, "fire.reviewer")
    response = client.get(f"{API_PREFIX}/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    body = response.json()
    assert body["username"] == "fire.reviewer"
    assert body["display_name"] == "赵磊"
    assert body["roles"] == [{"role": "reviewer", "track": "fire"}]
    assert body["organization"]["kind"] == "review_agency"


def test_me_with_session(client, web_platform):
    sign_in(client, web_platform, "designer")
    assert client.get(f"{API_PREFIX}/me").json()["username"] == "designer"


def test_anonymous_api_gets_401_json(client):
    response = client.get(f"{API_PREFIX}/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "not_authenticated"


def test_unknown_token_is_401(client):
    response = client.get(f"{API_PREFIX}/me", headers={"Authorization": "Bearer lt_0000_nonsense"})
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["message_zh"]
    assert error["message_en"]


def test_token_of_deleted_user_is_401(client, web_platform):
    token = _token(web_platform, "designer")
    assert client.get(f"{API_PREFIX}/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    with web_platform.sessions() as db, db.begin():
        delete_user(db, db.scalar(select(User).where(User.username == "designer")))
    response = client.get(f"{API_PREFIX}/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_session_of_deleted_user_ends(client, web_platform):
    sign_in(client, web_platform, "designer")
    with web_platform.sessions() as db, db.begin():
        delete_user(db, db.scalar(select(User).where(User.username == "designer")))
    assert client.get("/").status_code == 303
    assert client.get(f"{API_PREFIX}/me").status_code == 401


def test_projects_are_filtered_by_organisation(client, web_platform, projects):
    headers = {"Authorization": f"Bearer {_token(web_platform, 'designer')}"}
    listed = client.get(f"{API_PREFIX}/projects", headers=headers).json()["projects"]
    assert [p["id"] for p in listed] == [projects["own"]]
    own = client.get(f"{API_PREFIX}/projects/{projects['own']}", headers=headers).json()
    assert (own["code"], own["construction_unit"]) == ("JC-2026-001", "江城市教育局")
    assert listed[0]["construction_unit"] == "江城市教育局"
    hidden = client.get(f"{API_PREFIX}/projects/{projects['other']}", headers=headers)
    assert hidden.status_code == 404
    assert hidden.json()["error"]["code"] == "not_found"
    assert client.get(f"{API_PREFIX}/projects/999999", headers=headers).status_code == 404


def test_bureau_sees_every_project(client, web_platform, projects):
    headers = {"Authorization": f"Bearer {_token(web_platform, 'bureau')}"}
    listed = {p["id"] for p in client.get(f"{API_PREFIX}/projects", headers=headers).json()["projects"]}
    assert listed == set(projects.values())


def test_designer_home_lists_own_projects_only(client, projects, web_platform):
    sign_in(client, web_platform, "designer")
    page = client.get("/").text
    assert "江城市第一中学教学楼" in page
    assert "河西商业综合体" not in page
    assert "暂无项目" not in page


def test_every_api_route_is_documented(client):
    document = client.get(f"{API_PREFIX}/openapi.json").json()
    assert document["openapi"].startswith("3.")
    documented = {(path, method) for path, operations in document["paths"].items() for method in operations}
    expected = set()
    for route in all_api_routes():
        assert isinstance(route, Route)
        assert route.endpoint.__doc__, f"{route.path} has no docstring"
        for method in route.methods - {"HEAD"}:
            expected.add((API_PREFIX + route.path_format, method.lower()))
            operation = document["paths"][API_PREFIX + route.path_format][method.lower()]
            assert operation["summary"], route.path
            assert " / " in operation["summary"], "summaries are bilingual"
    assert documented == expected
    assert document["paths"][f"{API_PREFIX}/projects/{{project_id}}"]["get"]["parameters"][0]["name"] == "project_id"
