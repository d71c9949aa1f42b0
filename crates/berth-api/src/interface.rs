//! The web interface, served in process: its pages call the management API (and `/v2`
//! for manifests) through this same front door, as the visitor, so a page is refused
//! whatever the visitor would be refused, and every change is audited as theirs.

use std::sync::Arc;

use axum::extract::Request;
use axum::response::Response;

use crate::AppState;
use crate::access::Peer;

/// The front door as the interface's pages call it.
struct InProcess {
    state: Arc<AppState>,
    /// The browser's connection: sign-in limits and cookies' `Secure` depend on it.
    peer: Option<Peer>,
    /// The page's request id, shared by its API calls in the logs.
    request_id: String,
}

#[async_trait::async_trait]
impl berth_ui::Backend for InProcess {
    async fn call(&self, mut request: Request) -> Response {
        if let Some(peer) = &self.peer {
            request.extensions_mut().insert(peer.clone());
        }
        crate::front::serve(self.state.clone(), request, self.request_id.clone()).await
    }
}

/// Answers a request for one of the interface's pages.
pub(crate) async fn serve(
    state: &Arc<AppState>,
    peer: Option<Peer>,
    request_id: &str,
    request: Request,
) -> Response {
    let backend = Arc::new(InProcess {
        state: state.clone(),
        peer,
        request_id: request_id.to_string(),
    });
    let ui = berth_ui::Ui::new(backend, &state.options.prefix);
    state.ui.serve(ui, request).await
}
