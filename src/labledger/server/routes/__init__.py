"""``/api/v1`` routes over the workspace's stores: one route per store method.

Each route parses, authorises (a role in the workspace's default project, or for runs in the
run's project: a viewer reads, an editor writes), calls one store method and renders the frozen type it returns. Writes run inside
``acting_for(user)``, so their ledger entries name the signed-in user as ``by``.
"""

from labledger.server.routes.artifacts import router as artifacts_router
from labledger.server.routes.blob_uploads import router as blob_uploads_router
from labledger.server.routes.blobs import router as blobs_router
from labledger.server.routes.collections import router as collections_router
from labledger.server.routes.lineage import router as lineage_router
from labledger.server.routes.metadata import router as metadata_router
from labledger.server.routes.run_reads import router as run_reads_router
from labledger.server.routes.runs import router as runs_router
from labledger.server.routes.sessions import router as sessions_router
from labledger.server.routes.tasks import router as tasks_router

__all__ = ["store_routers"]

# The run routes first: a request is matched against the routes in order, and a metric batch is
# the request a busy server answers most.
store_routers = (
    runs_router,
    run_reads_router,
    lineage_router,
    metadata_router,
    collections_router,
    artifacts_router,
    blob_uploads_router,
    blobs_router,
    sessions_router,
    tasks_router,
)
