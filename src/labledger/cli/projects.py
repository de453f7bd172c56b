"""``labledger projects``: list projects and give users roles in them."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from labledger.cli.console import command, console, format_time, print_json, print_table
from labledger.cli.options import JsonOption, WorkspaceOption, open_catalog

__all__ = ["app"]

app = typer.Typer(
    help=(
        "Create and list projects, and grant or revoke users' roles in them (viewer < editor < admin).\n\n"
        "Example:\n\n"
        "    labledger projects create assay\n"
        "    labledger projects grant alice editor --project assay"
    ),
    no_args_is_help=True,
    add_completion=False,
)

ProjectOption = Annotated[str, typer.Option("--project", "-p", metavar="NAME", help="The project.")]


@app.command("list")
@command
def list_projects(as_json: JsonOption = False, workspace: WorkspaceOption = None) -> None:
    """List every project with its members.

    Example:

        labledger projects list --json
    """
    from labledger.identity import IdentityService, local_user

    with open_catalog(workspace) as ws:
        service = IdentityService(ws.stores.identity)
        me = local_user(ws.actor)
        projects = service.visible_projects(me)
        members = {p.name: service.members(p.name, actor=me) for p in projects}
    if as_json:
        print_json(
            [
                {
                    "id": p.id,
                    "name": p.name,
                    "description": p.description,
                    "created_at": p.created_at,
                    "members": members[p.name],
                }
                for p in projects
            ]
        )
        return
    rows = [
        [
            p.name,
            ", ".join(f"{m.user} ({m.role.value})" for m in members[p.name]),
            format_time(p.created_at),
        ]
        for p in projects
    ]
    print_table(None, ["name", "members", "created"], rows, empty="no projects", markup=False)


@app.command("create")
@command
def create(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The new project's name.")],
    description: Annotated[
        str, typer.Option("--description", "-d", help="What the project is for.")
    ] = "",
    workspace: WorkspaceOption = None,
) -> None:
    """Create a project (workspace administrators only); then grant users roles in it.

    Example:

        labledger projects create screening --description "Plate screening"
    """
    from labledger.identity import IdentityService, local_user

    with open_catalog(workspace) as ws:
        project = IdentityService(ws.stores.identity).create_project(
            name, actor=local_user(ws.actor), description=description
        )
    console.print(Text(f"created project {project.name}", style="green"))
    console.print(
        Text(
            f"grant roles next: labledger projects grant USER editor --project {project.name}",
            style="dim",
        )
    )


@app.command("grant")
@command
def grant(
    user: Annotated[str, typer.Argument(metavar="USER", help="The user's name.")],
    role: Annotated[str, typer.Argument(metavar="ROLE", help="viewer, editor or admin.")],
    project: ProjectOption,
    workspace: WorkspaceOption = None,
) -> None:
    """Give USER ROLE in a project (replacing any role they had there).

    Example:

        labledger projects grant alice editor --project assay
    """
    from labledger.identity import IdentityService, Role, local_user

    wanted = Role.parse(role)
    with open_catalog(workspace) as ws:
        member = IdentityService(ws.stores.identity).grant(
            project, user, wanted, actor=local_user(ws.actor)
        )
    console.print(Text(f"{member.user} is {member.role.value} in {member.project}", style="green"))


@app.command("revoke")
@command
def revoke(
    user: Annotated[str, typer.Argument(metavar="USER", help="The user's name.")],
    project: ProjectOption,
    workspace: WorkspaceOption = None,
) -> None:
    """Take USER out of a project.

    Example:

        labledger projects revoke alice --project assay
    """
    from labledger.identity import IdentityService, local_user

    with open_catalog(workspace) as ws:
        removed = IdentityService(ws.stores.identity).revoke_role(
            project, user, actor=local_user(ws.actor)
        )
    message = (
        f"{user} is no longer a member of {project}"
        if removed
        else f"{user} was no member of {project}"
    )
    console.print(Text(message, style="green" if removed else "dim"))
