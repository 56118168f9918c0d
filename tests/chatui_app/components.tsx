// The chat graph's component, shown by Agent Chat UI under the AI message it is tied to. React
// is the page's (the bundle leaves it external).
function Weather(props: { city?: string; sky?: string }) {
  return (
    <div data-testid="weather" style={{ color: "rgb(0, 102, 68)" }}>
      Forecast card: {props.city ?? "?"}, {props.sky ?? "?"}
    </div>
  );
}

export default { weather: Weather };
