// Progressive enhancement only: every page reads and works without this file.
"use strict";

// Copy buttons: data-copy holds the text.
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button || !navigator.clipboard) return;
  navigator.clipboard.writeText(button.dataset.copy).then(() => {
    const label = button.textContent;
    button.textContent = "Copied";
    button.dataset.copied = "";
    setTimeout(() => {
      button.textContent = label;
      delete button.dataset.copied;
    }, 1500);
  });
});

// Pages that follow something running (a garbage collection) reload themselves while it
// runs: data-refresh is the interval in seconds.
const follow = document.querySelector("[data-refresh]");
if (follow) {
  const seconds = Math.max(1, Number(follow.dataset.refresh) || 3);
  setTimeout(() => location.reload(), seconds * 1000);
}
