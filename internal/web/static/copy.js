// The records' copy buttons: copy the record's text (a readonly field the
// user can also select by hand, so nothing depends on this script). A file
// of our own, not inline: the panel's CSP allows scripts from 'self' only.
document.addEventListener("click", function (ev) {
  var b = ev.target.closest("button[data-copy]");
  if (!b) return;
  var field = document.getElementById(b.getAttribute("data-copy"));
  if (!field) return;
  field.focus();
  field.select();
  var done = function () { b.textContent = "Copied"; };
  if (navigator.clipboard && navigator.clipboard.writeText) {
    navigator.clipboard.writeText(field.value).then(done, function () { document.execCommand("copy"); done(); });
  } else {
    document.execCommand("copy");
    done();
  }
});
